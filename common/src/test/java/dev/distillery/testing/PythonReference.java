package dev.distillery.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code common/src/test/python/llama_reference.py}, the independent PyTorch implementation of
 * LlamaForCausalLM, with Debian's {@code /usr/bin/python3}. Missing torch fails the test with the command that
 * installs it: the numerics checks must never pass silently.
 */
public final class PythonReference {
  private static final String PYTHON = "/usr/bin/python3";

  private PythonReference() {}

  /**
   * Logits of the checkpoint in {@code modelDir} for the token ids in {@code tokensJson}, as raw float32.
   *
   * @param moduleRoot the Maven module directory the test runs in ({@code .} for common, {@code ../common} for jobs)
   */
  public static float[] logits(Path moduleRoot, Path modelDir, Path tokensJson, Path workDir) throws Exception {
    requireTorch();
    Path script = moduleRoot.resolve("src/test/python/llama_reference.py");
    Path out = workDir.resolve("reference-logits.bin");
    run(script.toString(), "--model", modelDir.toString(), "--tokens", tokensJson.toString(), "--out",
        out.toString());
    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
    float[] values = new float[bytes.remaining() / 4];
    bytes.asFloatBuffer().get(values);
    return values;
  }

  /**
   * Runs another script of {@code src/test/python} with {@code args}, failing the test if it fails.
   *
   * @param moduleRoot the Maven module directory holding {@code src/test/python}
   * @return the script's output
   */
  public static String runScript(Path moduleRoot, String script, String... args) throws Exception {
    requireTorch();
    String[] command = new String[args.length + 1];
    command[0] = moduleRoot.resolve("src/test/python").resolve(script).toString();
    System.arraycopy(args, 0, command, 1, args.length);
    return run(command);
  }

  /** Largest absolute difference between two equally long arrays. */
  public static double maxAbsError(float[] actual, float[] expected) {
    if (actual.length != expected.length) {
      fail("length " + actual.length + " differs from the reference's " + expected.length);
    }
    double max = 0;
    for (int i = 0; i < actual.length; i++) {
      max = Math.max(max, Math.abs(actual[i] - expected[i]));
    }
    return max;
  }

  /** Largest absolute value, to show a comparison is not between near-zero arrays. */
  public static double maxMagnitude(float[] values) {
    double max = 0;
    for (float v : values) {
      max = Math.max(max, Math.abs(v));
    }
    return max;
  }

  private static void requireTorch() throws Exception {
    if (!Files.isExecutable(Path.of(PYTHON))) {
      fail(PYTHON + " is missing: install Debian's python3-torch (apt-get install python3-torch python3-numpy "
          + "libopenblas0-pthread)");
    }
    try {
      run("-c", "import torch, numpy");
    } catch (AssertionError e) {
      fail(PYTHON + " cannot import torch/numpy; install Debian's python3-torch and python3-numpy "
          + "(apt-get install python3-torch python3-numpy libopenblas0-pthread). " + e.getMessage());
    }
  }

  private static String run(String... args) throws IOException, InterruptedException {
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
}
