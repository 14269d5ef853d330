package dev.distillery.jobs.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.distillery.io.DType;
import dev.distillery.io.RandomCheckpoint;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.testing.TestModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The executor cache: bounded by bytes per device, closing what it evicts, never what a running task holds. */
class ExecutorCacheTest {
  private static final Device CPU = Device.cpu();

  /** A stand-in for a loaded model that records whether it was closed. */
  static final class Resource implements AutoCloseable {
    final String name;
    final long bytes;
    boolean closed;

    Resource(String name, long bytes) {
      this.name = name;
      this.bytes = bytes;
    }

    @Override
    public void close() {
      closed = true;
    }
  }

  private final ExecutorCache cache = new ExecutorCache(device -> 100);
  private final List<Resource> loaded = new ArrayList<>();

  private ExecutorCache.Lease<Resource> acquire(String key, long bytes, int stage) {
    return cache.acquire(key, CPU, () -> bytes, () -> {
      Resource r = new Resource(key, bytes);
      loaded.add(r);
      return r;
    }, stage);
  }

  /** Runs one task of {@code stage} that uses {@code key}, as a stage of the pipeline would. */
  private Resource task(String key, long bytes, int stage) {
    ExecutorCache.Lease<Resource> lease = acquire(key, bytes, stage);
    lease.release();
    return lease.value();
  }

  @Test
  void aPipelineOfStagesKeepsAtMostTheBoundResidentAndClosesWhatItEvicts() {
    Resource teacher32 = task("teacher|float32", 60, 1); // calibrate
    assertThat(task("teacher|float32", 60, 2)).as("a later stage reuses what fits").isSameAs(teacher32);
    Resource teacher16 = task("teacher|float16", 30, 3); // distill
    assertThat(teacher32.closed).isFalse();
    assertThat(cache.residentBytes(CPU)).isEqualTo(90);
    task("pruned", 40, 4); // evaluate, one model after another
    assertThat(teacher32.closed).as("least recently used, evicted before the load").isTrue();
    assertThat(teacher16.closed).isFalse();
    task("distilled", 40, 5);
    task("scratch", 40, 6);
    task("teacher|float32", 60, 7);
    assertThat(cache.residentBytes(CPU)).isLessThanOrEqualTo(100);
    assertThat(loaded.stream().filter(r -> !r.closed).mapToLong(r -> r.bytes).sum())
        .as("every evicted model is closed: open ones are exactly the resident ones")
        .isEqualTo(cache.residentBytes(CPU));
    assertThat(loaded).filteredOn(r -> r.closed).extracting(r -> r.name)
        .containsExactly("teacher|float32", "teacher|float16", "pruned", "distilled");
  }

  @Test
  void aNewStageReleasesEarlierStagesModelsBeyondTheBound() {
    ExecutorCache.Lease<Resource> teacher = acquire("teacher", 90, 1);
    ExecutorCache.Lease<Resource> student = acquire("student", 50, 1); // both held: over the bound
    teacher.release();
    student.release();
    ExecutorCache.Lease<Resource> tokenizer = cache.acquire("tokenizer", null, () -> 0, () -> new Resource("t", 0),
        2);
    tokenizer.release();
    assertThat(teacher.value().closed).as("stage 1 ended: its least recently used model goes").isTrue();
    assertThat(student.value().closed).as("what then fits the bound is kept for reuse").isFalse();
    assertThat(cache.residentBytes(CPU)).isEqualTo(50);
  }

  @Test
  void theRunningStagesIdleModelsGoWhenItLoadsBeyondTheBound() {
    Resource big = task("big", 80, 1);
    Resource small = task("small", 30, 1);
    assertThat(big.closed).isTrue();
    assertThat(small.closed).isFalse();
  }

  @Test
  void aModelHeldByARunningTaskIsNeverClosed() {
    ExecutorCache.Lease<Resource> held = acquire("teacher", 90, 1);
    Resource other = task("student", 50, 2);
    assertThat(held.value().closed).as("held by a task of stage 1, still running").isFalse();
    assertThat(cache.residentBytes(CPU)).as("over the bound only by what tasks hold").isEqualTo(140);
    held.release();
    task("scratch", 20, 3);
    assertThat(held.value().closed).isTrue();
    assertThat(other.closed).isFalse();
  }

  @Test
  void aFailedLoadLeavesNoEntry() {
    assertThatThrownBy(() -> cache.acquire("broken", CPU, () -> 10, () -> {
      throw new IllegalStateException("cannot read");
    }, 1)).hasMessage("cannot read");
    assertThat(cache.residentBytes(CPU)).isZero();
    assertThat(task("broken", 10, 1).closed).isFalse();
  }

  @Test
  void evictedModelsFreeTheirParameters(@TempDir Path dir) {
    LlamaConfig config = TestModels.gqaConfig();
    String a = dir.resolve("a").toString();
    String b = dir.resolve("b").toString();
    RandomCheckpoint.generate(Storage.of(a), a, config, DType.F32, 1);
    RandomCheckpoint.generate(Storage.of(b), b, config, DType.F32, 2);
    long bytes = ExecutorModels.bytes(a, DataType.FLOAT32);
    assertThat(bytes).isEqualTo(config.parameterCount() * 4);
    ExecutorCache models = new ExecutorCache(device -> bytes);
    ExecutorCache.Lease<LlamaModel> first = models.acquire(ExecutorModels.key(a, "f", CPU, DataType.FLOAT32), CPU,
        () -> bytes, () -> ExecutorModels.load(a, CPU, DataType.FLOAT32), 1);
    first.release();
    NDArray weight = first.value().lmHeadWeight();
    ExecutorCache.Lease<LlamaModel> second = models.acquire(ExecutorModels.key(b, "f", CPU, DataType.FLOAT32), CPU,
        () -> bytes, () -> ExecutorModels.load(b, CPU, DataType.FLOAT32), 2);
    assertThat(weight.isReleased()).as("the evicted model's NDManager is closed").isTrue();
    assertThat(second.value().lmHeadWeight().isReleased()).isFalse();
    second.release();
    second.value().close();
  }

  @Test
  void oneModelKeyWhateverTheSpellingOfThePath(@TempDir Path dir) {
    String path = dir.resolve("teacher").toString();
    String key = ExecutorModels.key(path, "f1", CPU, DataType.FLOAT32);
    assertThat(ExecutorModels.key(path + "/", "f1", CPU, DataType.FLOAT32)).isEqualTo(key);
    assertThat(ExecutorModels.key("file:" + path, "f1", CPU, DataType.FLOAT32)).isEqualTo(key);
    assertThat(ExecutorModels.key(path, "f1", CPU, DataType.FLOAT16)).isNotEqualTo(key);
    assertThat(ExecutorModels.key(path, "f2", CPU, DataType.FLOAT32)).isNotEqualTo(key);
  }
}
