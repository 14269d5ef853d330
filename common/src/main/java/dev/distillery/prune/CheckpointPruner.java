package dev.distillery.prune;

import dev.distillery.io.CheckpointReader;
import dev.distillery.io.CheckpointWriter;
import dev.distillery.io.DType;
import dev.distillery.io.Storage;
import dev.distillery.io.TensorInfo;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies a {@link PrunePlan} to a teacher's Hugging Face checkpoint and writes the student checkpoint,
 * tensor by tensor in row windows (see {@link SliceStreamer}), so memory is bounded by the window, not the
 * model. Kept layers are renumbered from 0; the tokenizer files present in the teacher directory are copied.
 * The plan is checked against the teacher's {@code config.json} before anything is written.
 */
public final class CheckpointPruner {
  /** Default window of teacher rows read at once, in bytes. */
  public static final int DEFAULT_CHUNK_BYTES = 16 << 20;
  /** Files copied from the teacher directory when present. */
  public static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
      "special_tokens_map.json", "generation_config.json", "tokenizer.model");
  private static final Logger LOG = LoggerFactory.getLogger(CheckpointPruner.class);

  private final PrunePlan plan;
  private final int chunkBytes;

  /** A pruner reading windows of {@value #DEFAULT_CHUNK_BYTES} bytes. */
  public CheckpointPruner(PrunePlan plan) {
    this(plan, DEFAULT_CHUNK_BYTES);
  }

  /** A pruner reading windows of at most {@code chunkBytes} bytes (or one row, if larger). */
  public CheckpointPruner(PrunePlan plan, int chunkBytes) {
    if (chunkBytes <= 0) {
      throw new IllegalArgumentException("chunkBytes must be > 0, got " + chunkBytes);
    }
    this.plan = plan;
    this.chunkBytes = chunkBytes;
  }

  /** What a run read and wrote. */
  public record Summary(int tensors, long bytesRead, long bytesWritten, double seconds) {}

  /**
   * Writes the pruned student of the teacher in {@code teacherDir} to {@code output}.
   *
   * @throws IllegalArgumentException before writing anything, when the plan does not fit the teacher
   */
  public Summary prune(Storage teacherStorage, String teacherDir, StudentCheckpoint output) {
    long start = System.nanoTime();
    try (CheckpointReader teacher = CheckpointReader.open(teacherStorage, teacherDir)) {
      checkFits(plan, teacher.config(), teacherDir);
      DType dtype = output.dtype() != null ? output.dtype() : teacher.info(LlamaTensors.EMBED).dtype();
      Map<String, TensorSlice> slices = TensorSlice.of(plan);
      Map<String, long[]> shapes = LlamaTensors.expectedShapes(plan.target());
      try (CheckpointWriter student = CheckpointWriter.create(output.storage(), output.directory(), plan.target(),
          dtype, output.maxShardBytes(), output.overwrite())) {
        SliceStreamer streamer = new SliceStreamer(teacher, student, chunkBytes);
        long bytesRead = 0;
        long bytesWritten = 0;
        int done = 0;
        for (String name : student.tensorNames()) {
          TensorSlice slice = slices.get(name);
          bytesRead += streamer.stream(slice);
          bytesWritten += TensorInfo.elementCount(shapes.get(name)) * dtype.byteSize();
          done++;
          double seconds = (System.nanoTime() - start) / 1e9;
          LOG.info("tensor {}/{} {} <- {} ({} GB read, {} GB written, {} GB/s written)", done, slices.size(), name,
              slice.source(), gb(bytesRead), gb(bytesWritten), String.format("%.2f", bytesWritten / seconds / 1e9));
        }
        copyTokenizerFiles(teacherStorage, teacherDir, student);
        student.commit();
        double seconds = (System.nanoTime() - start) / 1e9;
        LOG.info("Pruned {} -> {}: {} -> {} parameters, {} GB written in {} s", teacherDir, output.directory(),
            teacher.config().parameterCount(), plan.target().parameterCount(), gb(bytesWritten),
            String.format("%.1f", seconds));
        return new Summary(done, bytesRead, bytesWritten, seconds);
      }
    }
  }

  /**
   * Checks that the plan was made for this teacher: its source config has the teacher's dimensions.
   *
   * @throws IllegalArgumentException listing every dimension that differs
   */
  public static void checkFits(PrunePlan plan, LlamaConfig teacher, String teacherDir) {
    LlamaConfig source = plan.source();
    List<String> problems = new ArrayList<>();
    differs(problems, "hidden_size", source.hiddenSize(), teacher.hiddenSize());
    differs(problems, "intermediate_size", source.intermediateSize(), teacher.intermediateSize());
    differs(problems, "num_hidden_layers", source.numHiddenLayers(), teacher.numHiddenLayers());
    differs(problems, "num_attention_heads", source.numAttentionHeads(), teacher.numAttentionHeads());
    differs(problems, "num_key_value_heads", source.numKeyValueHeads(), teacher.numKeyValueHeads());
    differs(problems, "head_dim", source.headDim(), teacher.headDim());
    differs(problems, "vocab_size", source.vocabSize(), teacher.vocabSize());
    differs(problems, "architectures", source.architecture().family().className(),
        teacher.architecture().family().className());
    differs(problems, "sliding_window", source.architecture().slidingWindow(), teacher.architecture().slidingWindow());
    differs(problems, "tie_word_embeddings", source.tieWordEmbeddings(), teacher.tieWordEmbeddings());
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException("Prune plan does not fit the teacher " + teacherDir + ": its source_config "
          + String.join(", ", problems));
    }
  }

  private static void differs(List<String> problems, String field, Object planValue, Object teacherValue) {
    if (!planValue.equals(teacherValue)) {
      problems.add("has " + field + " " + planValue + " but the teacher's config.json has " + teacherValue);
    }
  }

  private static void copyTokenizerFiles(Storage teacherStorage, String teacherDir, CheckpointWriter student) {
    for (String file : TOKENIZER_FILES) {
      String path = Storage.resolve(teacherDir, file);
      if (teacherStorage.exists(path)) {
        student.copyFile(teacherStorage, path);
        LOG.info("Copied {}", file);
      }
    }
  }

  private static String gb(long bytes) {
    return String.format("%.2f", bytes / 1e9);
  }
}
