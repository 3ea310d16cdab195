package claimcheck.test.mongo;

import com.mongodb.client.MongoClient;
import com.mongodb.client.MongoClients;
import com.mongodb.client.MongoDatabase;
import com.mongodb.client.gridfs.GridFSBucket;
import com.mongodb.client.gridfs.GridFSBuckets;
import com.mongodb.client.gridfs.GridFSDownloadStream;
import com.mongodb.client.gridfs.model.GridFSFile;
import com.mongodb.client.gridfs.model.GridFSUploadOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.bson.Document;
import org.bson.types.ObjectId;

/**
 * GridFS through the official MongoDB Java driver, the other side of the interop tests.
 *
 * <pre>
 * GridFsTool put URI BUCKET FILE NAME   stores FILE; prints "id=HEX sha256=HEX length=N"
 * GridFsTool get URI BUCKET ID OUTFILE  downloads by id; prints the same fields and the files
 *                                       document as "files=JSON"
 * GridFsTool count URI BUCKET           counts the bucket's documents; prints "files=N chunks=N"
 * </pre>
 *
 * The database is the one named in the URI. Exit code 0 on success, 1 on a driver error.
 */
public final class GridFsTool {
  private GridFsTool() {}

  public static void main(String[] args) throws Exception {
    boolean transfer = args.length == 5 && (args[0].equals("put") || args[0].equals("get"));
    if (!transfer && !(args.length == 3 && args[0].equals("count"))) {
      System.err.println("usage: GridFsTool put URI BUCKET FILE NAME | get URI BUCKET ID OUTFILE"
          + " | count URI BUCKET");
      System.exit(2);
    }
    String database = new com.mongodb.ConnectionString(args[1]).getDatabase();
    try (MongoClient client = MongoClients.create(args[1])) {
      MongoDatabase db = client.getDatabase(database == null ? "test" : database);
      GridFSBucket bucket = GridFSBuckets.create(db, args[2]);
      if (args[0].equals("count")) {
        count(db, args[2]);
      } else if (args[0].equals("put")) {
        put(bucket, Path.of(args[3]), args[4]);
      } else {
        get(bucket, new ObjectId(args[3]), Path.of(args[4]));
      }
    } catch (com.mongodb.MongoException error) {
      System.err.println("GridFsTool: " + error.getMessage());
      System.exit(1);
    }
  }

  private static void put(GridFSBucket bucket, Path file, String name)
      throws IOException, NoSuchAlgorithmException {
    MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
    try (InputStream in = new DigestInputStream(Files.newInputStream(file), sha256)) {
      ObjectId id = bucket.uploadFromStream(
          name, in, new GridFSUploadOptions().metadata(new Document("writer", "java-driver")));
      System.out.printf("id=%s sha256=%s length=%d%n", id.toHexString(),
          HexFormat.of().formatHex(sha256.digest()), Files.size(file));
    }
  }

  private static void get(GridFSBucket bucket, ObjectId id, Path out)
      throws IOException, NoSuchAlgorithmException {
    MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
    long length = 0;
    GridFSFile files;
    try (GridFSDownloadStream in = bucket.openDownloadStream(id);
         OutputStream sink = Files.newOutputStream(out)) {
      files = in.getGridFSFile();
      byte[] buffer = new byte[64 * 1024];
      for (int got; (got = in.read(buffer)) > 0; length += got) {
        sha256.update(buffer, 0, got);
        sink.write(buffer, 0, got);
      }
    }
    System.out.printf("id=%s sha256=%s length=%d%n", id.toHexString(),
        HexFormat.of().formatHex(sha256.digest()), length);
    System.out.println("files=" + new Document("filename", files.getFilename())
        .append("length", files.getLength())
        .append("chunkSize", files.getChunkSize())
        .append("metadata", files.getMetadata())
        .toJson());
  }

  /** Documents in BUCKET.files and BUCKET.chunks (a missing collection counts 0). */
  private static void count(MongoDatabase db, String bucket) {
    long files = db.getCollection(bucket + ".files").countDocuments();
    long chunks = db.getCollection(bucket + ".chunks").countDocuments();
    System.out.printf("files=%d chunks=%d%n", files, chunks);
  }
}
