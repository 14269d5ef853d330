package dev.distillery.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The acceptance check: logits match {@code src/test/python/llama_reference.py}, an independent PyTorch
 * implementation of LlamaForCausalLM, run on the same random checkpoint written as safetensors.
 */
class LlamaReferenceTest {
  private static final String PYTHON = "/usr/bin/python3";
  private static final Path SCRIPT = Path.of("src/test/python/llama_reference.py");
  private static final double TOLERANCE = 1e-4;

  @Test
  void logitsMatchIndependentPyTorchReference(@TempDir Path dir) throws Exception {
    requireTorch();
    LlamaConfig config = TestModels.gqaConfig();
    Map<String, float[]> weights = TestModels.randomWeights(config, 7);
    long[][] tokens = TestModels.randomTokens(2, 40, config.vocabSize(), 11);
    Files.writeString(dir.resolve("config.json"), config.toJson());
    SafetensorsTestWriter.write(dir.resolve("model.safetensors"), LlamaTensors.expectedShapes(config), weights);
    Files.writeString(dir.resolve("tokens.json"), new ObjectMapper().writeValueAsString(tokens));

    Path out = dir.resolve("logits.bin");
    String log = runPython(SCRIPT.toString(), "--model", dir.toString(), "--tokens",
        dir.resolve("tokens.json").toString(), "--out", out.toString());
    float[] expected = readFloats(out);

    float[] actual;
    try (LlamaModel model = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      NDArray logits = model.forward(manager.create(tokens));
      assertThat(logits.getShape().getShape()).containsExactly(2, 40, config.vocabSize());
      actual = logits.toFloatArray();
    }

    assertThat(actual).hasSameSizeAs(expected);
    double maxError = 0;
    double maxMagnitude = 0;
    for (int i = 0; i < actual.length; i++) {
      maxError = Math.max(maxError, Math.abs(actual[i] - expected[i]));
      maxMagnitude = Math.max(maxMagnitude, Math.abs(expected[i]));
    }
    System.out.printf("reference: %s; max |logit| %.3f, max abs error %.3g%n", log.strip(), maxMagnitude, maxError);
    assertThat(maxMagnitude).as("logits should be non-trivial").isGreaterThan(1.0);
    assertThat(maxError).as("max abs error against the PyTorch reference").isLessThanOrEqualTo(TOLERANCE);
  }

  private static void requireTorch() throws Exception {
    if (!Files.isExecutable(Path.of(PYTHON))) {
      fail(PYTHON + " is missing: install Debian's python3-torch (apt-get install python3-torch libopenblas0-pthread)");
    }
    try {
      runPython("-c", "import torch, numpy");
    } catch (AssertionError e) {
      fail(PYTHON + " cannot import torch/numpy; install Debian's python3-torch and python3-numpy "
          + "(apt-get install python3-torch libopenblas0-pthread). " + e.getMessage());
    }
  }

  private static String runPython(String... args) throws IOException, InterruptedException {
    String[] command = new String[args.length + 1];
    command[0] = PYTHON;
    System.arraycopy(args, 0, command, 1, args.length);
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    byte[] output = process.getInputStream().readAllBytes();
    if (!process.waitFor(5, TimeUnit.MINUTES)) {
      process.destroyForcibly();
      fail("python timed out: " + String.join(" ", command));
    }
    String text = new String(output, StandardCharsets.UTF_8);
    if (process.exitValue() != 0) {
      fail("python failed (exit " + process.exitValue() + "): " + String.join(" ", command) + "\n" + text);
    }
    return text;
  }

  private static float[] readFloats(Path file) throws IOException {
    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    float[] values = new float[bytes.remaining() / 4];
    bytes.asFloatBuffer().get(values);
    return values;
  }
}
