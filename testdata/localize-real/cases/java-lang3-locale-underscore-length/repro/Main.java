import java.util.Locale;
import org.apache.commons.lang3.LocaleUtils;
import org.apache.commons.lang3.StringUtils;
import org.apache.commons.lang3.math.Fraction;

/** Formats a report's labels, locales and ratios from user settings, as a web app would; bad
 * settings are rejected with IllegalArgumentException / ArithmeticException / NumberFormatException. */
public class Main {
    public static void main(String[] args) {
        for (String s : new String[] {"en_GB", "_GB", "fr", "_G", "x"}) {
            try {
                Locale l = LocaleUtils.toLocale(s);
                System.out.println(s + " -> " + l);
            } catch (IllegalArgumentException e) {
                System.out.println(s + " rejected: " + e.getMessage());
            }
        }
        System.out.println(StringUtils.overlay("abcdef", "ZZ", 2, 4) + " " + StringUtils.overlay("abcdef", "ZZ", 4, 99));
        for (int width : new int[] {10, 6, 2}) {
            try {
                System.out.println(StringUtils.abbreviate("The quick brown fox", "...", width));
            } catch (IllegalArgumentException e) {
                System.out.println("width " + width + " rejected: " + e.getMessage());
            }
        }
        for (String s : new String[] {"3/4", "1 1/2", "6/8", "3/0"}) {
            Fraction f;
            try {
                f = Fraction.getFraction(s);
            } catch (ArithmeticException | NumberFormatException e) {
                System.out.println(s + " rejected: " + e.getMessage());
                continue;
            }
            System.out.println(s + " = " + f.reduce().toProperString());
        }
    }
}
