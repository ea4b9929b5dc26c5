import org.json.simple.JsonObject;
import org.json.simple.Jsoner;

/** Reads prices from a catalogue payload and pretty-prints it for a log, as an import job would;
 * a missing price is allowed (null). */
public class Main {
    public static void main(String[] args) throws Exception {
        String payload = "{\"sku\":\"A-1\",\"price\":\"12.50\",\"tags\":[\"x\",\"y\"],\"discount\":null}";
        JsonObject item = (JsonObject) Jsoner.deserialize(payload);
        System.out.println("price " + item.getDouble("price"));
        System.out.println("discount " + item.getDouble("discount"));
        System.out.println(Jsoner.prettyPrint(payload));
    }
}
