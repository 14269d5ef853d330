package dev.distillery.jobs.distill;

import java.io.IOException;
import java.net.URI;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

/**
 * The local file system under the scheme {@code slow:}, taking {@code fs.slow.create-delay-ms} (Hadoop
 * configuration) to create each {@code .safetensors} file: a storage as slow to take a checkpoint's tensors as an
 * object store is to take tens of gigabytes. Register it with {@code fs.slow.impl}.
 */
public final class SlowFileSystem extends RawLocalFileSystem {
  static final String DELAY = "fs.slow.create-delay-ms";

  private long delayMillis;

  @Override
  public void initialize(URI uri, Configuration conf) throws IOException {
    super.initialize(uri, conf);
    delayMillis = conf.getLong(DELAY, 0);
  }

  @Override
  public URI getUri() {
    return URI.create("slow:///");
  }

  @Override
  public String getScheme() {
    return "slow";
  }

  @Override
  public FSDataOutputStream create(Path f, boolean overwrite, int bufferSize, short replication, long blockSize,
      Progressable progress) throws IOException {
    slowDown(f);
    return super.create(f, overwrite, bufferSize, replication, blockSize, progress);
  }

  @Override
  public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize,
      short replication, long blockSize, Progressable progress) throws IOException {
    slowDown(f);
    return super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress);
  }

  private void slowDown(Path f) throws IOException {
    if (f.getName().endsWith(".safetensors")) {
      try {
        Thread.sleep(delayMillis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("interrupted while slowly creating " + f);
      }
    }
  }
}
