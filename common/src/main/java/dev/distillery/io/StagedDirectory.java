package dev.distillery.io;

import java.io.Closeable;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An output directory written in a hidden sibling ({@code parent/.name.tmp-<uuid>}) and moved into place
 * by {@link #commit()}, which then writes the {@value Storage#COMMIT_MARKER} marker as its very last step.
 *
 * <p>On HDFS and local disks the rename is atomic. On object stores (S3A) a directory rename is a copy and
 * delete, so a reader may see a partly moved directory: readers must trust only directories that hold
 * the marker ({@link Storage#isCommitted}). {@link #close()} without a commit aborts, so
 * try-with-resources leaves nothing behind when the writer fails; staging directories a killed writer left are
 * removed when the output is staged again.
 *
 * <p>Replacing a committed output keeps the old version until the new one is committed: its marker is removed,
 * it is moved aside ({@code parent/.name.old-<uuid>}), the new one is moved in and marked, and only then is the
 * old one deleted. A writer killed in between leaves no committed output and the old version aside, which stays
 * (named in a warning when the output is staged again) until a new version is committed.
 *
 * <p>For tests of killed writers, the JVM option {@code -D}{@value #PAUSE_PROPERTY}{@code =NAME:POINT} makes the
 * commit of an output named {@code NAME} stop for good at {@code POINT} ({@code before-marker}: new data in place,
 * no marker yet; {@code set-aside}: the old version moved aside, the new one not yet moved in), after logging
 * {@code "Pausing the commit of ..."}, so that a test can kill the process there.
 */
public final class StagedDirectory implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(StagedDirectory.class);
  /** System property naming an output and a point where its commit pauses for good (tests of killed writers). */
  public static final String PAUSE_PROPERTY = "distillery.commit.pause";

  private final Storage storage;
  private final String finalDir;
  private final String tempDir;
  private final boolean overwrite;
  private boolean finished;

  StagedDirectory(Storage storage, String finalDir, boolean overwrite) {
    this(storage, finalDir, overwrite, UUID.randomUUID().toString());
  }

  /** Stages {@code finalDir} in {@link #pathFor pathFor(finalDir, id)}, a name other writers can compute. */
  StagedDirectory(Storage storage, String finalDir, boolean overwrite, String id) {
    this.storage = storage;
    this.finalDir = finalDir;
    this.overwrite = overwrite;
    refuseCommittedTarget();
    Path target = new Path(finalDir);
    Path parent = target.getParent();
    if (parent == null) {
      throw new IllegalArgumentException("Cannot stage the root directory " + finalDir);
    }
    removeLeftovers(parent.toString(), prefix(target));
    warnOfOldVersions();
    this.tempDir = pathFor(finalDir, id);
    storage.mkdirs(tempDir);
    LOG.info("Staging {} in {}", finalDir, tempDir);
  }

  /**
   * The staging directory of {@code finalDir} with id {@code id}: where writers in other processes put their files
   * once its owner has {@linkplain Storage#stage(String, boolean, String) staged} it, until the owner commits.
   */
  public static String pathFor(String finalDir, String id) {
    Path target = new Path(finalDir);
    return new Path(target.getParent(), prefix(target) + id).toString();
  }

  private static String prefix(Path target) {
    return "." + target.getName() + ".tmp-";
  }

  /** The directory being written; files go here until {@link #commit()}. */
  public String path() {
    return tempDir;
  }

  /** Path of {@code name} inside the staging directory. */
  public String file(String name) {
    return Storage.resolve(tempDir, name);
  }

  /** Where the directory will be once committed. */
  public String finalPath() {
    return finalDir;
  }

  /**
   * Moves the staging directory to its final path and writes the commit marker. An uncommitted leftover
   * at the final path (from a crashed run) is replaced; a committed one only when staged with overwrite, and it is
   * kept aside until the new version is committed (see the class comment).
   */
  public void commit() {
    if (finished) {
      throw new IllegalStateException("Staged directory for " + finalDir + " was already committed or aborted");
    }
    refuseCommittedTarget();
    if (storage.isCommitted(finalDir)) {
      String aside = siblingPath(".old-");
      LOG.info("Replacing {}; the old version is kept at {} until the new one is committed", finalDir, aside);
      storage.delete(Storage.resolve(finalDir, Storage.COMMIT_MARKER));
      storage.rename(finalDir, aside);
      pauseIfAsked("set-aside");
    } else if (storage.exists(finalDir)) {
      LOG.info("Replacing {}, left uncommitted by an earlier writer", finalDir);
      storage.delete(finalDir);
    }
    storage.rename(tempDir, finalDir);
    pauseIfAsked("before-marker");
    storage.writeText(Storage.resolve(finalDir, Storage.COMMIT_MARKER), Instant.now() + "\n");
    finished = true;
    LOG.info("Committed {}", finalDir);
    for (String old : oldVersions()) {
      storage.delete(old);
    }
  }

  /** Deletes the staging directory; the final path is left untouched. */
  public void abort() {
    if (!finished) {
      finished = true;
      storage.delete(tempDir);
      LOG.info("Aborted output {} (deleted {})", finalDir, tempDir);
    }
  }

  /** Aborts unless committed. */
  @Override
  public void close() {
    abort();
  }

  /**
   * Deletes staging directories of this output that an earlier writer left behind when it was killed (a full set
   * of Parquet files, on S3). One output has one writer at a time, so any such directory is dead.
   */
  private void removeLeftovers(String parent, String prefix) {
    if (!storage.exists(parent)) {
      return;
    }
    for (String entry : storage.list(parent)) {
      if (new Path(entry).getName().startsWith(prefix)) {
        LOG.info("Removing {}, left by an earlier writer of {} that did not finish", entry, finalDir);
        storage.delete(entry);
      }
    }
  }

  private void refuseCommittedTarget() {
    if (!overwrite && storage.isCommitted(finalDir)) {
      throw new IllegalStateException("Output " + finalDir + " already exists and is committed; "
          + "delete it or enable overwrite");
    }
  }

  private void warnOfOldVersions() {
    if (!storage.isCommitted(finalDir)) {
      for (String old : oldVersions()) {
        LOG.warn("Output {} is not committed; the version it had before a replacement was interrupted is kept at {} "
            + "until a new one is committed", finalDir, old);
      }
    }
  }

  /** Old versions this output's replacements moved aside and have not deleted yet. */
  private List<String> oldVersions() {
    Path target = new Path(finalDir);
    String parent = target.getParent().toString();
    String prefix = "." + target.getName() + ".old-";
    if (!storage.exists(parent)) {
      return List.of();
    }
    return storage.list(parent).stream().filter(e -> new Path(e).getName().startsWith(prefix)).toList();
  }

  private String siblingPath(String kind) {
    Path target = new Path(finalDir);
    return new Path(target.getParent(), "." + target.getName() + kind + UUID.randomUUID()).toString();
  }

  /** Stops here for good when {@value #PAUSE_PROPERTY} names this output and {@code point}; see the class comment. */
  private void pauseIfAsked(String point) {
    String asked = System.getProperty(PAUSE_PROPERTY);
    if (asked == null || !asked.equals(new Path(finalDir).getName() + ":" + point)) {
      return;
    }
    LOG.warn("Pausing the commit of {} at {} ({}), until this process is killed", finalDir, point, PAUSE_PROPERTY);
    while (true) {
      try {
        Thread.sleep(60_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("Commit of " + finalDir + " interrupted while paused at " + point, e);
      }
    }
  }
}
