// A later step of a job using PgJDBC (JDBC, Flyway, Liquibase): connects with the jdbc-url
// output, the user and password from PGUSER/PGPASSWORD, and prints the first column of the
// first row of the query. `java -cp postgresql.jar Probe.java <jdbc-url> <sql>`.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Properties;

public class Probe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", System.getenv("PGUSER"));
        props.setProperty("password", System.getenv("PGPASSWORD"));
        props.setProperty("connectTimeout", "10");
        try (Connection conn = DriverManager.getConnection(args[0], props);
             Statement st = conn.createStatement();
             ResultSet rs = st.executeQuery(args[1])) {
            rs.next();
            System.out.println(rs.getString(1));
        } catch (java.sql.SQLException e) {
            System.err.println("pgjdbc: " + e.getMessage());
            System.exit(1);
        }
    }
}
