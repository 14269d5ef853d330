package dev.distillery.jobs.evaluate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import dev.distillery.tokenize.TextTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Greedy decoding on a model of 8 positions with the sample's tokenizer. */
class GreedyGeneratorTest {
  private static final int POSITIONS = 8;
  private static final LlamaConfig CONFIG = new LlamaConfig(32, 64, 2, 2, 1, 16, 2048, 1e-5, 10000.0, null,
      POSITIONS, false, 1, 2, "float32");

  private static Path tokenizerJson() {
    Path samples = Files.isDirectory(Path.of("../data-samples")) ? Path.of("../data-samples") : Path.of("data-samples");
    return samples.resolve("tokenizer.json");
  }

  /**
   * A prompt of 12 tokens grows to 17 on a model of 8 positions: every step sees only the last 8 tokens, as a
   * step-by-step decoding of those windows gives.
   */
  @Test
  void aContextLongerThanTheModelKeepsItsLastMaxPositionEmbeddingsTokens() {
    String prompt = "the city is located in the north of the country , and the";
    int maxNew = 5;
    try (TextTokenizer tokenizer = TextTokenizer.load(tokenizerJson(), false);
        LlamaModel model = LlamaModel.load(CONFIG, WeightSource.of(TestModels.randomWeights(CONFIG, 91)), Device.cpu());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      long[] ids = tokenizer.encode(prompt);
      assertThat(ids.length).isGreaterThan(POSITIONS);
      long[] expected = new long[maxNew];
      long[] context = ids;
      int produced = 0;
      while (produced < maxNew) {
        long[] window = Arrays.copyOfRange(context, context.length - POSITIONS, context.length);
        long next = model.forward(manager.create(window).reshape(1, POSITIONS)).get(new NDIndex("0, -1, :"))
            .argMax().toLongArray()[0];
        if (next == CONFIG.eosTokenId()) {
          break;
        }
        expected[produced++] = next;
        context = Arrays.copyOf(context, context.length + 1);
        context[context.length - 1] = next;
      }
      String text = new GreedyGenerator(model, tokenizer).continuation(prompt, maxNew);
      assertThat(produced).isPositive();
      assertThat(text).isEqualTo(tokenizer.decode(Arrays.copyOf(expected, produced), true));
    }
  }

  @Test
  void aPromptOfNoTokensIsRefusedInOneLine() {
    try (TextTokenizer tokenizer = TextTokenizer.load(tokenizerJson(), false);
        LlamaModel model = LlamaModel.load(CONFIG, WeightSource.of(TestModels.randomWeights(CONFIG, 92)),
            Device.cpu())) {
      assertThatThrownBy(() -> new GreedyGenerator(model, tokenizer).continuation("", 3))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("evaluate: prompt '' encodes to no tokens, so there is nothing to continue; give prompts of "
              + "at least one token (option 'prompts')");
    }
  }
}
