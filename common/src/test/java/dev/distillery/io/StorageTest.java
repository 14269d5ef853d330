package dev.distillery.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StorageTest {
  @TempDir Path tmp;

  private String dir(String name) {
    return tmp.resolve(name).toString();
  }

  @Test
  void replaceSwapsInTheNewFileOrLeavesTheOldOneWhole() throws Exception {
    Storage storage = Storage.of(tmp.toString());
    String file = tmp.resolve("metrics.jsonl").toString();
    storage.replaceText(file, "one\n");
    storage.replaceText(file, "two\n");
    assertThat(Files.readString(tmp.resolve("metrics.jsonl"))).isEqualTo("two\n");

    assertThatThrownBy(() -> storage.replace(file, temp -> {
      storage.writeText(temp, "half");
      throw new IllegalStateException("writer failed");
    })).hasMessage("writer failed");
    assertThat(Files.readString(tmp.resolve("metrics.jsonl"))).isEqualTo("two\n");
    try (var files = Files.list(tmp)) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactly("metrics.jsonl");
    }
  }

  @Test
  void readsWritesListsAndDeletesFiles() {
    Storage storage = Storage.of(tmp.toString());
    String file = Storage.resolve(dir("a"), "notes.txt");
    storage.writeText(file, "héllo\n");
    assertThat(storage.readText(file)).isEqualTo("héllo\n");
    assertThat(storage.size(file)).isEqualTo(7);
    assertThat(storage.exists(file)).isTrue();
    assertThat(storage.list(dir("a"))).singleElement().asString().endsWith("notes.txt");
    assertThat(tmp.resolve("a/.notes.txt.crc")).doesNotExist();
    assertThat(storage.delete(dir("a"))).isTrue();
    assertThat(storage.exists(file)).isFalse();
  }

  @Test
  void acceptsFileUris() {
    Storage storage = Storage.of("file://" + tmp);
    storage.writeText("file://" + tmp + "/x.txt", "x");
    assertThat(tmp.resolve("x.txt")).hasContent("x");
    assertThat(storage.uri().getScheme()).isEqualTo("file");
  }

  @Test
  void errorsNameThePath() {
    Storage storage = Storage.of(tmp.toString());
    assertThatThrownBy(() -> storage.readText(dir("missing.txt"))).hasMessageContaining("missing.txt");
  }

  @Test
  void commitMovesStagedFilesIntoPlaceAndWritesMarkerLast() {
    Storage storage = Storage.of(tmp.toString());
    String out = dir("out");
    try (StagedDirectory staged = storage.stage(out)) {
      assertThat(staged.path()).contains("/.out.tmp-");
      storage.writeText(staged.file("data.txt"), "1");
      assertThat(storage.exists(out)).isFalse();
      staged.commit();
    }
    assertThat(storage.isCommitted(out)).isTrue();
    assertThat(tmp.resolve("out/data.txt")).hasContent("1");
    assertThat(tmp.toFile().list()).containsExactly("out");
  }

  @Test
  void abortDeletesTheStagingDirectory() {
    Storage storage = Storage.of(tmp.toString());
    StagedDirectory staged = storage.stage(dir("out"));
    storage.writeText(staged.file("data.txt"), "1");
    staged.abort();
    assertThat(tmp.toFile().list()).isEmpty();
  }

  @Test
  void failedWriterLeavesNoCommittedDirectory() {
    Storage storage = Storage.of(tmp.toString());
    String out = dir("out");
    assertThatThrownBy(() -> {
      try (StagedDirectory staged = storage.stage(out)) {
        storage.writeText(staged.file("part.txt"), "half");
        throw new IllegalStateException("writer crashed");
      }
    }).hasMessage("writer crashed");
    assertThat(storage.isCommitted(out)).isFalse();
    assertThat(tmp.toFile().list()).isEmpty();
  }

  @Test
  void refusesToReplaceCommittedOutputUnlessOverwriting() throws Exception {
    Storage storage = Storage.of(tmp.toString());
    String out = dir("out");
    try (StagedDirectory staged = storage.stage(out)) {
      storage.writeText(staged.file("v.txt"), "1");
      staged.commit();
    }
    assertThatThrownBy(() -> storage.stage(out)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining(out).hasMessageContaining("already exists and is committed");
    try (StagedDirectory staged = storage.stage(out, true)) {
      storage.writeText(staged.file("v.txt"), "2");
      staged.commit();
    }
    assertThat(tmp.resolve("out/v.txt")).hasContent("2");
    assertThat(storage.isCommitted(out)).isTrue();
  }

  @Test
  void replacesUncommittedLeftovers() throws Exception {
    Storage storage = Storage.of(tmp.toString());
    Files.createDirectories(tmp.resolve("out"));
    Files.writeString(tmp.resolve("out/stale.txt"), "old");
    try (StagedDirectory staged = storage.stage(dir("out"))) {
      storage.writeText(staged.file("new.txt"), "new");
      staged.commit();
    }
    assertThat(tmp.resolve("out/stale.txt")).doesNotExist();
    assertThat(tmp.resolve("out/new.txt")).hasContent("new");
  }

  @Test
  void stagingAgainRemovesWhatAKilledWriterLeftBehind() throws Exception {
    Storage storage = Storage.of(tmp.toString());
    Path leftover = Files.createDirectories(tmp.resolve(".out.tmp-5f0c2d6e-dead"));
    Files.writeString(leftover.resolve("part-00000.parquet"), "partial");
    Path otherOutput = Files.createDirectories(tmp.resolve(".output.tmp-1234"));
    try (StagedDirectory staged = storage.stage(dir("out"))) {
      assertThat(leftover).doesNotExist();
      assertThat(otherOutput).as("another output's staging directory").exists();
      storage.writeText(staged.file("new.txt"), "new");
      staged.commit();
    }
    try (var entries = Files.list(tmp)) {
      assertThat(entries.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("out", ".output.tmp-1234");
    }
  }

  @Test
  void readersRefuseAStagedOutputThatWasNotCommittedButReadAUsersOwnDirectory() throws Exception {
    Storage storage = Storage.of(tmp.toString());
    Files.createDirectories(tmp.resolve("users/train"));
    storage.requireCommitted(dir("users"), "token shards");

    Files.writeString(tmp.resolve("users/" + Storage.MANIFEST), "{}");
    assertThatThrownBy(() -> storage.requireCommitted(dir("users"), "token shards"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(dir("users") + " (token shards) is not committed (no _COMMITTED): the stage writing it was "
            + "interrupted and it may be partial; rerun the stage that writes it");
    Files.writeString(tmp.resolve("users/" + Storage.COMMIT_MARKER), "");
    storage.requireCommitted(dir("users"), "token shards");

    Files.createDirectories(tmp.resolve("model"));
    Path staging = Files.createDirectories(tmp.resolve(".model.tmp-5f0c"));
    assertThatThrownBy(() -> storage.requireCommitted(dir("model"), "checkpoint"))
        .hasMessageStartingWith(dir("model") + " (checkpoint) is not committed");
    Files.delete(staging);
    Files.createDirectories(tmp.resolve(".model.old-77aa"));
    assertThatThrownBy(() -> storage.requireCommitted(dir("model"), "checkpoint"))
        .hasMessageStartingWith(dir("model") + " (checkpoint) is not committed");
    Files.createDirectories(tmp.resolve(".model2.tmp-1234"));
    storage.requireCommitted(dir("users"), "token shards");
  }
}
