package dev.distillery.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** Parsing and writing Mistral and Qwen2 configs, and the errors for what is not supported. */
class ModelArchitectureTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String QWEN25 = """
      {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64, "intermediate_size": 96,
       "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 160,
       "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 32768, "tie_word_embeddings": true,
       "bos_token_id": 151, "eos_token_id": 152, "torch_dtype": "bfloat16", "hidden_act": "silu",
       "use_sliding_window": false, "sliding_window": 131072, "max_window_layers": 21,
       "transformers_version": "4.43.1"}""";
  private static final String MISTRAL = """
      {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 64, "intermediate_size": 96,
       "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 160,
       "rope_theta": 10000.0, "max_position_embeddings": 32768, "sliding_window": 4096, "torch_dtype": "bfloat16"}""";

  @Test
  void qwen2KeepsItsArchitectureAndFieldsWhenWritten() throws Exception {
    LlamaConfig config = LlamaConfig.fromJson(QWEN25, "qwen/config.json");
    assertThat(config.architecture().family()).isEqualTo(ModelArchitecture.Family.QWEN2);
    assertThat(config.architecture().attentionBias()).isTrue();
    assertThat(config.architecture().hasSlidingWindow()).as("use_sliding_window is false").isFalse();
    assertThat(config.ropeTheta()).isEqualTo(1e6);
    assertThat(config.tieWordEmbeddings()).isTrue();
    assertThat(config.headDim()).isEqualTo(16);
    assertThat(LlamaTensors.expectedShapes(config)).containsKeys(LlamaTensors.qBias(1), LlamaTensors.kBias(1),
        LlamaTensors.vBias(1)).doesNotContainKey(LlamaTensors.LM_HEAD);
    assertThat(LlamaTensors.expectedShapes(config).get(LlamaTensors.kBias(0))).containsExactly(32);

    JsonNode written = JSON.readTree(config.withShape(32, 48, 1, 2, 1, 16).toJson());
    assertThat(written.get("architectures").get(0).asText()).isEqualTo("Qwen2ForCausalLM");
    assertThat(written.get("model_type").asText()).isEqualTo("qwen2");
    assertThat(written.get("use_sliding_window").asBoolean(true)).isFalse();
    assertThat(written.get("sliding_window").asInt()).isEqualTo(131072);
    assertThat(written.get("max_window_layers").asInt()).isEqualTo(21);
    assertThat(written.get("transformers_version").asText()).isEqualTo("4.43.1");
    assertThat(written.get("num_key_value_heads").asInt()).isEqualTo(1);
    assertThat(written.has("attention_bias")).as("not a Qwen2 field").isFalse();
    assertThat(LlamaConfig.fromJson(config.toJson(), "again")).isEqualTo(config);
  }

  @Test
  void mistralSlidingWindowIsReadAndWritten() throws Exception {
    LlamaConfig config = LlamaConfig.fromJson(MISTRAL, "mistral/config.json");
    assertThat(config.architecture().family()).isEqualTo(ModelArchitecture.Family.MISTRAL);
    assertThat(config.architecture().slidingWindow()).isEqualTo(4096);
    assertThat(config.architecture().attentionBias()).isFalse();
    assertThat(config.headDim()).isEqualTo(32);
    JsonNode written = JSON.readTree(config.toJson());
    assertThat(written.get("architectures").get(0).asText()).isEqualTo("MistralForCausalLM");
    assertThat(written.get("sliding_window").asInt()).isEqualTo(4096);
    assertThat(LlamaConfig.fromJson(config.toJson(), "again")).isEqualTo(config);

    LlamaConfig full = LlamaConfig.fromJson(MISTRAL.replace("\"sliding_window\": 4096", "\"sliding_window\": null"),
        "mistral-v0.2/config.json");
    assertThat(full.architecture().hasSlidingWindow()).isFalse();
    assertThat(JSON.readTree(full.toJson()).get("sliding_window").isNull()).isTrue();
  }

  @Test
  void unsupportedModelsNameTheField() {
    assertThatThrownBy(() -> LlamaConfig.fromJson(QWEN25.replace("\"qwen2\"", "\"qwen2_moe\""), "moe/config.json"))
        .hasMessageStartingWith("moe/config.json").hasMessageContaining("model_type 'qwen2_moe' is not supported");
    assertThatThrownBy(() -> LlamaConfig.fromJson(MISTRAL.replace("\"head_dim\"", "\"num_local_experts\": 8, \"head_dim\""),
        "m/config.json")).hasMessageContaining("field 'num_local_experts'").hasMessageContaining("mixture-of-experts");
    assertThatThrownBy(() -> LlamaConfig.fromJson(QWEN25.replace("\"use_sliding_window\": false",
        "\"use_sliding_window\": true"), "q/config.json")).hasMessageContaining("field 'use_sliding_window'");
    assertThatThrownBy(() -> LlamaConfig.fromJson(MISTRAL.replace("MistralForCausalLM", "LlavaForConditionalGeneration"),
        "l/config.json")).hasMessageContaining("architectures").hasMessageContaining("MistralForCausalLM");
    assertThatThrownBy(() -> LlamaConfig.fromJson(MISTRAL.replace("\"sliding_window\": 4096", "\"sliding_window\": 0"),
        "w/config.json")).hasMessageContaining("field 'sliding_window'");
    assertThatThrownBy(() -> LlamaConfig.fromJson(MISTRAL.replace("\"head_dim\"", "\"attention_bias\": true, \"head_dim\""),
        "b/config.json")).hasMessageContaining("field 'attention_bias'");
  }
}
