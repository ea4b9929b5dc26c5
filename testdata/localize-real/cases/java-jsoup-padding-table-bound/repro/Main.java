import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;

/** Cleans up and re-indents scraped HTML, copying attributes between elements, as a content
 * import job would. */
public class Main {
    public static void main(String[] args) {
        Document doc = Jsoup.parse("<div id=a class=x><section><ul><li><p><span><b><i>deep</i></b></span></p></li></ul></section></div>"
            + "<a href=/one title=t data-x=1 data-y=2 data-z=3 rel=nofollow>link</a><img src=a.png>");
        Element img = doc.selectFirst("img");
        img.attributes().addAll(doc.selectFirst("a").attributes());
        System.out.println(img.outerHtml());
        doc.outputSettings().indentAmount(7).prettyPrint(true);
        System.out.println(doc.body().html());
    }
}
