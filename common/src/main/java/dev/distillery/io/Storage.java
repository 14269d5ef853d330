package dev.distillery.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Consumer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A thin wrapper over a Hadoop {@link FileSystem} ({@code file:}, {@code s3a:}, {@code hdfs:}, ...).
 * Paths are strings: full URIs, or paths without a scheme, which resolve against the file system this
 * storage was opened for. Local files are written without Hadoop's {@code .crc} side files. I/O errors
 * are rethrown as {@link UncheckedIOException} naming the path.
 */
public final class Storage {
  /** Marker file a committed directory holds; see {@link StagedDirectory}. */
  public static final String COMMIT_MARKER = "_COMMITTED";
  /** The manifest a stage writes into the directory it stages (tokens, teacher logits). */
  public static final String MANIFEST = "manifest.json";

  private static volatile Configuration processConfiguration;

  private final FileSystem fs;

  private Storage(FileSystem fs) {
    this.fs = fs;
  }

  /**
   * Makes {@code conf} the Hadoop configuration {@link #of(String)} uses in this JVM: the Spark session's on the
   * driver, the copy shipped with a task on an executor, so {@code spark.hadoop.*} settings (S3 endpoint,
   * credentials) reach every read and write.
   */
  public static void useConfiguration(Configuration conf) {
    processConfiguration = conf;
  }

  /** The configuration given to {@link #useConfiguration}, or a default one when none was given. */
  public static Configuration configuration() {
    Configuration conf = processConfiguration;
    return conf != null ? conf : new Configuration();
  }

  /** Storage for the file system of {@code uri} with this JVM's Hadoop configuration ({@link #configuration()}). */
  public static Storage of(String uri) {
    return of(uri, configuration());
  }

  /** Storage for the file system of {@code uri}; {@code conf} carries credentials, endpoints and the like. */
  public static Storage of(String uri, Configuration conf) {
    try {
      FileSystem fs = new Path(uri).getFileSystem(conf);
      return new Storage(fs instanceof LocalFileSystem local ? local.getRawFileSystem() : fs);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot open the file system of " + uri + ": " + e.getMessage(), e);
    }
  }

  /** The file system's URI, e.g. {@code file:///} or {@code s3a://bucket}. */
  public URI uri() {
    return fs.getUri();
  }

  /** {@code path} fully qualified against this file system, as a string. */
  public String qualify(String path) {
    return fs.makeQualified(new Path(path)).toString();
  }

  /**
   * {@code path} with a relative local path made absolute against this JVM's working directory; URIs
   * ({@code s3a://...}, {@code file:/...}), absolute paths and null unchanged. Settings that travel to Spark tasks
   * hold absolute paths: an executor's working directory is not the driver's.
   */
  public static String absolute(String path) {
    if (path == null || new Path(path).toUri().getScheme() != null || new Path(path).isAbsolute()) {
      return path;
    }
    return java.nio.file.Path.of(path).toAbsolutePath().normalize().toString();
  }

  /** {@code child} resolved under directory {@code parent}. */
  public static String resolve(String parent, String child) {
    return new Path(new Path(parent), child).toString();
  }

  /** Opens a file for positioned reads ({@link FSDataInputStream#readFully(long, byte[], int, int)}). */
  public FSDataInputStream open(String path) {
    try {
      return fs.open(new Path(path));
    } catch (IOException e) {
      throw failure("open", path, e);
    }
  }

  /** Creates {@code path} (and its parents); an existing file is replaced only when {@code overwrite}. */
  public FSDataOutputStream create(String path, boolean overwrite) {
    try {
      return fs.create(new Path(path), overwrite);
    } catch (IOException e) {
      throw failure("create", path, e);
    }
  }

  /** Reads a whole (small) file as UTF-8. */
  public String readText(String path) {
    try (InputStream in = open(path)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw failure("read", path, e);
    }
  }

  /** Writes {@code text} as UTF-8, replacing the file if it exists. */
  public void writeText(String path, String text) {
    try (OutputStream out = create(path, true)) {
      out.write(text.getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw failure("write", path, e);
    }
  }

  /**
   * Replaces the file {@code path} by one that {@code writer} writes to the temporary path it is given, then renames
   * over {@code path}: readers see the old file or the new one, never a partial one (on object stores a rename is a
   * copy; see {@link StagedDirectory}). When the writer fails, the temporary file is removed and {@code path} is left
   * as it was.
   */
  public void replace(String path, Consumer<String> writer) {
    String temp = path + ".tmp-" + UUID.randomUUID();
    try {
      writer.accept(temp);
    } catch (RuntimeException e) {
      delete(temp);
      throw e;
    }
    delete(path);
    rename(temp, path);
  }

  /** {@link #writeText} through {@link #replace}: the file is replaced whole or not at all. */
  public void replaceText(String path, String text) {
    replace(path, temp -> writeText(temp, text));
  }

  /** Copies a file, possibly from another storage, streaming. */
  public void copyFrom(Storage source, String sourcePath, String targetPath) {
    try (InputStream in = source.open(sourcePath); OutputStream out = create(targetPath, true)) {
      in.transferTo(out);
    } catch (IOException e) {
      throw failure("copy " + sourcePath + " to", targetPath, e);
    }
  }

  /** Whether a file or directory exists at {@code path}. */
  public boolean exists(String path) {
    try {
      return fs.exists(new Path(path));
    } catch (IOException e) {
      throw failure("check", path, e);
    }
  }

  /** Size of a file in bytes. */
  public long size(String path) {
    try {
      return fs.getFileStatus(new Path(path)).getLen();
    } catch (IOException e) {
      throw failure("stat", path, e);
    }
  }

  /** Full paths of the entries of directory {@code path}, sorted by name. */
  public List<String> list(String path) {
    try {
      List<String> names = new ArrayList<>();
      for (FileStatus status : fs.listStatus(new Path(path))) {
        names.add(status.getPath().toString());
      }
      names.sort(null);
      return names;
    } catch (IOException e) {
      throw failure("list", path, e);
    }
  }

  /** Creates a directory and its parents. */
  public void mkdirs(String path) {
    try {
      if (!fs.mkdirs(new Path(path))) {
        throw new UncheckedIOException(new IOException("Cannot create directory " + path));
      }
    } catch (IOException e) {
      throw failure("create directory", path, e);
    }
  }

  /** Deletes a file or a directory tree; returns whether something was deleted. */
  public boolean delete(String path) {
    try {
      return fs.delete(new Path(path), true);
    } catch (IOException e) {
      throw failure("delete", path, e);
    }
  }

  /** Renames {@code from} to {@code to}, which must not exist. */
  public void rename(String from, String to) {
    try {
      if (!fs.rename(new Path(from), new Path(to))) {
        throw new IOException("rename returned false");
      }
    } catch (IOException e) {
      throw failure("rename " + from + " to", to, e);
    }
  }

  /** Whether {@code dir} holds the {@value #COMMIT_MARKER} marker of a completed {@link StagedDirectory}. */
  public boolean isCommitted(String dir) {
    return exists(resolve(dir, COMMIT_MARKER));
  }

  /**
   * Fails when {@code dir}, about to be read as another stage's output, may be partial: it is not committed, yet a
   * stage wrote it or is writing it, because it holds {@value #MANIFEST} (which stages write into their staging
   * directory only) or a staging or set-aside sibling ({@code .NAME.tmp-*}, {@code .NAME.old-*}) lies beside it. On S3
   * a commit's rename copies file by file, so such a directory can hold some of the files. A directory with neither
   * (Parquet files or a checkpoint a user supplied, which carry no marker) is read as it is.
   *
   * @param what what the directory holds, named in the error (e.g. "token shards")
   * @throws IllegalStateException a one-line error naming {@code dir}
   */
  public void requireCommitted(String dir, String what) {
    if (isCommitted(dir) || !wasStaged(dir)) {
      return;
    }
    throw new IllegalStateException(dir + " (" + what + ") is not committed (no " + COMMIT_MARKER + "): the stage "
        + "writing it was interrupted and it may be partial; rerun the stage that writes it");
  }

  private boolean wasStaged(String dir) {
    if (exists(resolve(dir, MANIFEST))) {
      return true;
    }
    Path target = new Path(dir);
    Path parent = target.getParent();
    if (parent == null || !exists(parent.toString())) {
      return false;
    }
    String staging = "." + target.getName() + ".tmp-";
    String setAside = "." + target.getName() + ".old-";
    return list(parent.toString()).stream().map(entry -> new Path(entry).getName())
        .anyMatch(name -> name.startsWith(staging) || name.startsWith(setAside));
  }

  /**
   * Starts writing directory {@code finalDir} atomically; see {@link StagedDirectory}.
   *
   * @throws IllegalStateException if {@code finalDir} is already committed and {@code overwrite} is false
   */
  public StagedDirectory stage(String finalDir, boolean overwrite) {
    return new StagedDirectory(this, finalDir, overwrite);
  }

  /**
   * {@link #stage(String, boolean)} in {@link StagedDirectory#pathFor StagedDirectory.pathFor(finalDir, id)}, so that
   * writers elsewhere (other ranks of a job) can add files to it before this one commits.
   */
  public StagedDirectory stage(String finalDir, boolean overwrite, String id) {
    return new StagedDirectory(this, finalDir, overwrite, id);
  }

  /** {@link #stage(String, boolean)} that refuses to replace a committed directory. */
  public StagedDirectory stage(String finalDir) {
    return stage(finalDir, false);
  }

  private static UncheckedIOException failure(String action, String path, IOException e) {
    return new UncheckedIOException("Cannot " + action + " " + path + ": " + e.getMessage(), e);
  }
}
