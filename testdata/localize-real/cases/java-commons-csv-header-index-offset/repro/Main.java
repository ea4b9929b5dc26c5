import java.io.StringReader;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;

/** Imports a CSV export with a header row and reads columns by name, as a data import job would. */
public class Main {
    public static void main(String[] args) throws Exception {
        String csv = "id,name,email\n1,Ada,ada@example.com\n2,\"Grace, H\",grace@example.com\n3,Linus\n";
        CSVFormat format = CSVFormat.DEFAULT.builder().setHeader().setSkipHeaderRecord(true).build();
        try (CSVParser parser = CSVParser.parse(new StringReader(csv), format)) {
            for (CSVRecord r : parser) {
                String email = r.isSet("email") ? r.get("email") : "(none)";
                System.out.println(r.get("id") + " " + r.get("name") + " " + email);
            }
        }
        try (CSVParser parser = CSVParser.parse(new StringReader(csv), format)) {
            CSVRecord last = parser.getRecords().get(2);
            try {
                System.out.println(last.get("email"));
            } catch (IllegalArgumentException e) {
                System.out.println("short record: " + e.getMessage());
            }
        }
    }
}
