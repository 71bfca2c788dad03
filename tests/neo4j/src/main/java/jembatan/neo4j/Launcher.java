package jembatan.neo4j;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import org.neo4j.cli.AdminTool;
import org.neo4j.cli.ExecutionContext;
import org.neo4j.server.CommunityBootstrapper;
import org.neo4j.server.NeoBootstrapper;

/**
 * Runs a Neo4j Community server for the test suite.
 *
 * <p>Usage: {@code java -cp 'lib/*' jembatan.neo4j.Launcher HOME CONF}. The first line on
 * standard input is the initial password of the {@code neo4j} user (stdin keeps it out of the
 * process list). After that the launcher keeps reading standard input: when it reaches end of
 * file — the parent closed the pipe or died, even by SIGKILL — the server is stopped cleanly
 * and the JVM exits, so a test session never leaves a server behind.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: Launcher HOME_DIR CONF_DIR  (initial password on stdin)");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Path conf = Path.of(args[1]).toAbsolutePath();
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String password = stdin.readLine();
        if (password == null || password.isEmpty()) {
            System.err.println("no initial password on standard input");
            System.exit(2);
        }

        // Same as `neo4j-admin dbms set-initial-password`, in this JVM (one JVM start, not two).
        // "--" ends the options: a generated password may begin with "-".
        int rc = AdminTool.execute(new ExecutionContext(home, conf), "dbms", "set-initial-password", "--", password);
        if (rc != 0) {
            System.err.println("setting the initial password failed: exit code " + rc);
            System.exit(rc);
        }

        NeoBootstrapper server = new CommunityBootstrapper();
        Thread watchdog = new Thread(() -> {
            try {
                while (stdin.read() != -1) {
                    // Anything after the password is ignored; only end of file matters.
                }
            } catch (IOException ignored) {
                // A broken pipe means the parent is gone, same as end of file.
            }
            // The server's shutdown hook stops it cleanly (calling stop() here as well would
            // run the whole shutdown twice).
            System.exit(0);
        }, "parent-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        rc = NeoBootstrapper.start(server, "--home-dir=" + home, "--config-dir=" + conf);
        if (rc != 0) {
            System.exit(rc);
        }
        // The server's own non-daemon threads keep the JVM alive; its shutdown hook and signal
        // handlers stop it on SIGTERM/SIGINT.
    }
}
