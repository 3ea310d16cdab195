package claimcheck.test.mongo;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;

/**
 * A MongoDB wire-protocol server for the tests: mongo-java-server with its H2 backend, so that
 * stored chunks live in a file and not on the Java heap.
 *
 * <p>Usage: {@code WireServer DATA_FILE [PORT]}. Port 0 (the default) picks a free port. Once it
 * listens it prints one line {@code listening mongodb://127.0.0.1:PORT/} on stdout; it stops on
 * SIGTERM or SIGINT.
 */
public final class WireServer {
  private WireServer() {}

  public static void main(String[] args) throws InterruptedException {
    if (args.length < 1 || args.length > 2) {
      System.err.println("usage: WireServer DATA_FILE [PORT]");
      System.exit(2);
    }
    int port = args.length == 2 ? Integer.parseInt(args[1]) : 0;
    MongoServer server = new MongoServer(new H2Backend(args[0]));
    server.bind("127.0.0.1", port);
    InetSocketAddress address = server.getLocalAddress();
    System.out.println("listening mongodb://127.0.0.1:" + address.getPort() + "/");
    System.out.flush();

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.shutdown();
      stopped.countDown();
    }));
    stopped.await();
  }
}
