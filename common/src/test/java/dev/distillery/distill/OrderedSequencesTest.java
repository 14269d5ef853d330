package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OrderedSequencesTest {
  @Test
  void sequencesAreReadBackByPositionAcrossParts(@TempDir Path dir) {
    Storage storage = Storage.of(dir.toString());
    String order = dir.resolve("order").toString();
    List<int[]> all = new ArrayList<>();
    List<OrderedSequences.Part> parts = new ArrayList<>();
    long tokens = 0;
    try (StagedDirectory staged = storage.stage(order)) {
      for (int p = 0; p < 3; p++) {
        List<int[]> part = new ArrayList<>();
        for (int i = 0; i < 4 + p; i++) {
          int[] ids = new int[1 + (i * 7 + p) % 9];
          for (int t = 0; t < ids.length; t++) {
            ids[t] = p * 100_000 + i * 1000 + t + Integer.MAX_VALUE / 2; // large ids: int32 round trip
          }
          part.add(ids);
        }
        long[] counts = OrderedSequences.writePart(storage, staged.path(), "part-" + p, part.iterator());
        assertThat(counts[0]).isEqualTo(part.size());
        parts.add(new OrderedSequences.Part("part-" + p, counts[0]));
        tokens += counts[1];
        all.addAll(part);
      }
      OrderedSequences.writeManifest(storage, staged.path(),
          new OrderedSequences.Manifest("test", all.size(), tokens, 0, parts));
      staged.commit();
    }
    try (OrderedSequences read = OrderedSequences.open(storage, order)) {
      assertThat(read.manifest().tokens()).isEqualTo(all.stream().mapToLong(s -> s.length).sum());
      for (int position : new int[] {0, 5, 3, 14, 4, 9, 0, 14}) {
        assertThat(read.get(position)).as("sequence %d", position).containsExactly(all.get(position));
      }
      assertThatThrownBy(() -> read.get(all.size())).isInstanceOf(IndexOutOfBoundsException.class);
    }
    assertThatThrownBy(() -> OrderedSequences.open(storage, dir.resolve("none").toString()))
        .hasMessageContaining("no committed order.json");
  }

  @Test
  void readAheadStaysAFewStepsAheadAndPassesOnFailures() throws InterruptedException {
    AtomicInteger read = new AtomicInteger();
    try (StepReadAhead ahead = new StepReadAhead(step -> {
      read.incrementAndGet();
      if (step == 5) {
        throw new IllegalArgumentException("bad row in step 6");
      }
      return List.of(new int[] {step});
    }, 2, 10, 2)) {
      assertThat(ahead.take(2).get(0)).containsExactly(2);
      Thread.sleep(200);
      assertThat(read.get()).as("steps read: the one taken, two queued, one waiting to be queued")
          .isLessThanOrEqualTo(4);
      assertThat(ahead.take(3).get(0)).containsExactly(3);
      assertThat(ahead.take(4).get(0)).containsExactly(4);
      assertThatThrownBy(() -> ahead.take(5)).hasMessage("bad row in step 6");
    }
  }
}
