package dev.distillery.jobs.tools;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.DType;
import dev.distillery.io.RandomCheckpoint;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.ModelArchitecture;
import dev.distillery.model.RopeScaling;
import java.io.PrintStream;
import java.util.Map;

/** {@code distillery random-checkpoint}: a seeded random HF Llama, Mistral or Qwen2 checkpoint of any shape. */
public final class RandomCheckpointCommand implements Command {
  static final ConfigOption<String> OUT = ConfigOption.string("output").deprecatedAlias("out").required()
      .doc("Checkpoint directory to create (any Hadoop file system); committed atomically.");
  static final ConfigOption<String> PRESET = ConfigOption.choice("preset", "tiny", "llama-3.1-8b").defaultValue("tiny")
      .doc("Starting shape: 'tiny' (2 layers, hidden 64, vocab 128256) or the exact Llama-3.1-8B shapes; the shape "
          + "options below override it.");
  static final ConfigOption<String> ARCHITECTURE = ConfigOption.choice("architecture", "llama", "mistral", "qwen2")
      .defaultValue("llama").doc("model_type: 'llama' (LlamaForCausalLM), 'mistral' (MistralForCausalLM, plain RoPE "
          + "with rope_theta 1e6) or 'qwen2' (Qwen2ForCausalLM: q/k/v biases, plain RoPE with rope_theta 1e6).");
  static final ConfigOption<Integer> SLIDING_WINDOW = ConfigOption.integer("sliding-window").atLeast(1)
      .doc("Mistral only: attend to the last N keys (sliding_window); unset for plain causal attention.");
  static final ConfigOption<Integer> HIDDEN = ConfigOption.integer("hidden-size").atLeast(1).doc("hidden_size.");
  static final ConfigOption<Integer> FFN = ConfigOption.integer("intermediate-size").atLeast(1)
      .doc("intermediate_size (FFN neurons).");
  static final ConfigOption<Integer> LAYERS = ConfigOption.integer("layers").atLeast(1).doc("num_hidden_layers.");
  static final ConfigOption<Integer> HEADS = ConfigOption.integer("heads").atLeast(1).doc("num_attention_heads.");
  static final ConfigOption<Integer> KV_HEADS = ConfigOption.integer("kv-heads").atLeast(1)
      .doc("num_key_value_heads.");
  static final ConfigOption<Integer> HEAD_DIM = ConfigOption.integer("head-dim").atLeast(2).doc("head_dim.");
  static final ConfigOption<Integer> VOCAB = ConfigOption.integer("vocab-size").atLeast(3)
      .doc("vocab_size; below the preset's BOS/EOS ids (128000/128001) those become 1 and 2.");
  static final ConfigOption<Boolean> TIED = ConfigOption.bool("tie-word-embeddings")
      .doc("Share the embedding matrix with lm_head.");
  static final ConfigOption<String> DTYPE = ConfigOption.dtype("dtype", "float32", "float16", "bfloat16")
      .defaultValue("bfloat16")
      .doc("Stored dtype of the weights.");
  static final ConfigOption<Long> SEED = ConfigOption.longInteger("seed").defaultValue(0L).doc("Random seed.");
  static final ConfigOption<Long> SHARD_BYTES = ConfigOption.longInteger("max-shard-bytes")
      .defaultValue(5_000_000_000L).atLeast(1).doc("Largest safetensors shard, in bytes.");
  static final ConfigOption<Boolean> OVERWRITE = ConfigOption.bool("overwrite").defaultValue(false)
      .doc("Replace an existing checkpoint at --out.");

  private static final ConfigSchema SCHEMA = new ConfigSchema("random-checkpoint",
      "Write a seeded random Hugging Face Llama, Mistral or Qwen2 checkpoint (tests, samples, scale benchmarks).", OUT,
      PRESET, ARCHITECTURE, SLIDING_WINDOW, HIDDEN,
      FFN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB, TIED, DTYPE, SEED, SHARD_BYTES, OVERWRITE);

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void validate(Config config) {
    architecture(config);
  }

  @Override
  public void run(Config config, PrintStream out) {
    LlamaConfig base = config.get(PRESET).equals("llama-3.1-8b") ? LlamaConfig.llama31_8b() : tiny();
    DType dtype = DType.fromTorchDtype(config.get(DTYPE));
    int vocab = orDefault(config, VOCAB, base.vocabSize());
    boolean presetIdsFit = base.eosTokenId() < vocab && base.bosTokenId() < vocab;
    int bos = presetIdsFit ? base.bosTokenId() : 1;
    int eos = presetIdsFit ? base.eosTokenId() : 2;
    ModelArchitecture architecture = architecture(config);
    boolean llama = architecture.family() == ModelArchitecture.Family.LLAMA;
    LlamaConfig shape = new LlamaConfig(
        orDefault(config, HIDDEN, base.hiddenSize()), orDefault(config, FFN, base.intermediateSize()),
        orDefault(config, LAYERS, base.numHiddenLayers()), orDefault(config, HEADS, base.numAttentionHeads()),
        orDefault(config, KV_HEADS, base.numKeyValueHeads()), orDefault(config, HEAD_DIM, base.headDim()),
        vocab, base.rmsNormEps(), llama ? base.ropeTheta() : 1e6, llama ? base.ropeScaling() : null,
        base.maxPositionEmbeddings(), config.isSet(TIED) ? config.get(TIED) : base.tieWordEmbeddings(),
        bos, eos, dtype.torchDtype(), architecture);
    String target = config.get(OUT);
    RandomCheckpoint.generate(Storage.of(target), target, shape, dtype, config.get(SEED), config.get(SHARD_BYTES),
        config.get(OVERWRITE));
    out.printf("wrote %s: %,d parameters, %s%n", target, shape.parameterCount(), dtype);
  }

  private static ModelArchitecture architecture(Config config) {
    ModelArchitecture.Family family = ModelArchitecture.Family.valueOf(
        config.get(ARCHITECTURE).toUpperCase(java.util.Locale.ROOT));
    if (config.isSet(SLIDING_WINDOW) && family != ModelArchitecture.Family.MISTRAL) {
      throw new ConfigException("sliding-window is only for --architecture mistral, got " + config.get(ARCHITECTURE));
    }
    return new ModelArchitecture(family, config.isSet(SLIDING_WINDOW) ? config.get(SLIDING_WINDOW) : 0, Map.of());
  }

  private static int orDefault(Config config, ConfigOption<Integer> option, int fallback) {
    return config.isSet(option) ? config.get(option) : fallback;
  }

  private static LlamaConfig tiny() {
    return new LlamaConfig(64, 160, 2, 4, 2, 16, 128256, 1e-5, 500000.0, RopeScaling.llama31(), 131072, false,
        128000, 128001, "bfloat16");
  }
}
