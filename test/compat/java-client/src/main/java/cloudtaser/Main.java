package cloudtaser;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Map;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.core.sync.ResponseTransformer;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.transfer.s3.S3TransferManager;
import software.amazon.awssdk.transfer.s3.model.DownloadRequest;

/**
 * The AWS SDK for Java v2 through the proxy: the sync client with its default checksums (aws-chunked
 * uploads, `x-amz-te: append-md5` and checksum validation on GETs), and the Java-based multipart async
 * client under S3TransferManager (upload, download, copy) and its own multipart copyObject.
 *
 * <p>Run by test/compat/sdk-clients.test.ts with PROXY_ENDPOINT and BUCKET in the environment; prints
 * one line per check and exits 1 if any failed.
 */
public final class Main {
  private static final int MiB = 1024 * 1024;
  private static int failures = 0;

  /** The same position-dependent test data as test/compat/patterns.py. */
  static byte[] pattern(int length, int seed) throws Exception {
    byte[] out = new byte[length];
    int filled = 0;
    for (int counter = 0; filled < length; counter++) {
      byte[] sum =
          MessageDigest.getInstance("SHA-256")
              .digest((seed + ":" + counter).getBytes(StandardCharsets.US_ASCII));
      int n = Math.min(sum.length, length - filled);
      System.arraycopy(sum, 0, out, filled, n);
      filled += n;
    }
    return out;
  }

  interface Check {
    void run() throws Exception;
  }

  static void check(String name, Check check) {
    try {
      check.run();
      System.out.println("ok " + name);
    } catch (Throwable error) {
      failures++;
      System.err.println("FAIL " + name + ": " + error);
    }
  }

  static void same(byte[] got, byte[] want) {
    if (!Arrays.equals(got, want)) {
      throw new AssertionError(got.length + " bytes back, " + want.length + " expected, content differs");
    }
  }

  public static void main(String[] args) throws Exception {
    String bucket = System.getenv("BUCKET");
    URI endpoint = URI.create(System.getenv("PROXY_ENDPOINT"));
    StaticCredentialsProvider credentials =
        StaticCredentialsProvider.create(AwsBasicCredentials.create("AKIDJAVACLIENT", "java-client-secret"));
    S3Client sync =
        S3Client.builder()
            .region(Region.US_EAST_1)
            .endpointOverride(endpoint)
            .forcePathStyle(true)
            .credentialsProvider(credentials)
            .build();
    S3AsyncClient multipart =
        S3AsyncClient.builder()
            .region(Region.US_EAST_1)
            .endpointOverride(endpoint)
            .forcePathStyle(true)
            .credentialsProvider(credentials)
            .multipartEnabled(true)
            .build();
    S3TransferManager transfers = S3TransferManager.builder().s3Client(multipart).build();

    check("createBucket", () -> sync.createBucket(b -> b.bucket(bucket)));

    // The sync client with default checksums: PutObject is aws-chunked with a CRC trailer; GetObject
    // sends x-amz-te: append-md5 and validates any checksum it is given.
    for (int size : new int[] {0, 3, 1024, 200_000}) {
      byte[] data = pattern(size, size);
      String key = "sync/" + size;
      check("sync putObject " + key, () -> sync.putObject(b -> b.bucket(bucket).key(key), RequestBody.fromBytes(data)));
      check(
          "sync getObject " + key,
          () -> same(sync.getObject(b -> b.bucket(bucket).key(key), ResponseTransformer.toBytes()).asByteArray(), data));
      check(
          "sync headObject " + key,
          () -> {
            HeadObjectResponse head = sync.headObject(b -> b.bucket(bucket).key(key));
            if (head.contentLength() != size) throw new AssertionError("Content-Length " + head.contentLength());
          });
      if (size > 100) {
        check(
            "sync getObject range " + key,
            () -> {
              ResponseBytes<GetObjectResponse> got =
                  sync.getObject(b -> b.bucket(bucket).key(key).range("bytes=10-99"), ResponseTransformer.toBytes());
              same(got.asByteArray(), Arrays.copyOfRange(data, 10, 100));
            });
      }
    }

    // S3TransferManager over the Java-based multipart client: 17 MiB goes up in 8 MiB parts.
    for (int size : new int[] {1024, 17 * MiB}) {
      byte[] data = pattern(size, size + 5);
      String key = "tm/" + size;
      check(
          "S3TransferManager.upload " + key,
          () ->
              transfers
                  .upload(u -> u.putObjectRequest(p -> p.bucket(bucket).key(key).metadata(Map.of("colour", "red")))
                      .requestBody(AsyncRequestBody.fromBytes(data)))
                  .completionFuture()
                  .join());
      check(
          "S3TransferManager.download " + key,
          () ->
              same(
                  transfers
                      .download(
                          DownloadRequest.builder()
                              .getObjectRequest(g -> g.bucket(bucket).key(key))
                              .responseTransformer(AsyncResponseTransformer.toBytes())
                              .build())
                      .completionFuture()
                      .join()
                      .result()
                      .asByteArray(),
                  data));
      String copyKey = "tm-copy/" + size;
      check(
          "S3TransferManager.copy " + key,
          () -> {
            transfers
                .copy(c -> c.copyObjectRequest(r -> r.sourceBucket(bucket).sourceKey(key)
                    .destinationBucket(bucket).destinationKey(copyKey)))
                .completionFuture()
                .join();
            same(sync.getObject(b -> b.bucket(bucket).key(copyKey), ResponseTransformer.toBytes()).asByteArray(), data);
            String colour = sync.headObject(b -> b.bucket(bucket).key(copyKey)).metadata().get("colour");
            if (!"red".equals(colour)) throw new AssertionError("metadata colour=" + colour);
          });
      String multipartCopyKey = "mp-copy/" + size;
      check(
          "multipart client copyObject " + key,
          () -> {
            multipart
                .copyObject(r -> r.sourceBucket(bucket).sourceKey(key).destinationBucket(bucket).destinationKey(multipartCopyKey))
                .join();
            same(
                multipart.getObject(b -> b.bucket(bucket).key(multipartCopyKey), AsyncResponseTransformer.toBytes())
                    .join()
                    .asByteArray(),
                data);
          });
    }

    transfers.close();
    multipart.close();
    sync.close();
    System.out.println("java sdk: " + failures + " failures");
    System.exit(failures == 0 ? 0 : 1);
  }
}
