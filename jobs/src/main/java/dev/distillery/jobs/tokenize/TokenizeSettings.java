package dev.distillery.jobs.tokenize;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.jobs.command.StageOptions;
import dev.distillery.tokenize.DocumentBoundary;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The validated configuration of {@code distillery tokenize}; defaults suit the Llama 3.1 tokenizer.
 *
 * @param inputs the corpus paths or globs (format 'table': one table name)
 * @param partitions tokenization tasks, or null for spark.sql.shuffle.partitions
 * @param outputConfig the effective options that decide the output (not how it is computed), for the manifest
 */
public record TokenizeSettings(String run, String tokenizer, List<String> inputs, String format,
    DocumentBoundary documentBoundary, String textField, boolean addBos, String bosToken, boolean appendEod,
    String eodToken, String packing, int seqLength, double validFraction, long seed, int rowsPerShard,
    boolean megatron, String tokenDtype, int maxChars, boolean strictUtf8, double maxSkippedFraction,
    Integer partitions, int batchSize, boolean overwrite, Map<String, Object> outputConfig) {
  public TokenizeSettings {
    inputs = List.copyOf(inputs);
    outputConfig = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(outputConfig));
  }

  public static final ConfigOption<String> INPUT = ConfigOption.string("input").required()
      .doc("Corpus paths or globs on any Hadoop file system, comma-separated (or a YAML list); for format 'table', "
          + "the table name.");
  public static final ConfigOption<String> FORMAT = ConfigOption.choice("format", "text", "jsonl", "parquet", "table")
      .defaultValue("text")
      .doc("Input format: plain text (split into documents by 'document-boundary'), JSON Lines, Parquet, or a "
          + "table Spark can read.");
  public static final ConfigOption<String> DOCUMENT_BOUNDARY = ConfigOption.choice("document-boundary", "line",
          "blank-line", "wikitext").defaultValue("blank-line")
      .doc("How plain text splits into documents: every non-blank line, paragraphs separated by blank lines, or "
          + "WikiText style (a ' = Title = ' line starts a document). Each text file is read whole.");
  public static final ConfigOption<String> TEXT_FIELD = ConfigOption.string("text-field").defaultValue("text")
      .doc("The JSONL field, Parquet column or table column holding a document's text.");
  public static final ConfigOption<String> TOKENIZER = ConfigOption.string("tokenizer").required()
      .doc("Hugging Face tokenizer.json on any Hadoop file system; each executor copies it once to local disk "
          + "(keyed by SHA-256) and loads it once. Truncation and padding are off.");
  public static final ConfigOption<Boolean> ADD_BOS = ConfigOption.bool("add-bos").defaultValue(false)
      .doc("Put 'bos-token' before every document. Off by default, like NeMo/Megatron preprocessing of Llama 3.1 "
          + "(documents are separated by the end-of-document token only).");
  public static final ConfigOption<String> BOS_TOKEN = ConfigOption.string("bos-token")
      .defaultValue("<|begin_of_text|>").doc("The beginning-of-document token (Llama 3.1: <|begin_of_text|>).");
  public static final ConfigOption<Boolean> APPEND_EOD = ConfigOption.bool("append-eod").defaultValue(true)
      .doc("Put 'eod-token' after every document, like Megatron's --append-eod, so packed rows show where "
          + "documents end.");
  public static final ConfigOption<String> EOD_TOKEN = ConfigOption.string("eod-token")
      .defaultValue("<|end_of_text|>").doc("The end-of-document token (Llama 3.1: <|end_of_text|>, id 128001).");
  public static final ConfigOption<String> PACKING = ConfigOption.choice("packing", "packed", "packed-bos",
          "documents").defaultValue("packed")
      .doc("'packed': documents back to back, cut into rows of seq-length + 1 tokens (inputs and shifted labels "
          + "from one row; the final partial row is dropped and counted). 'packed-bos': the same stream, but every "
          + "row starts with 'bos-token' followed by seq-length tokens, so a teacher that relies on BOS at the start "
          + "of its context sees it in every row (documents still flow across rows). 'documents': one row per "
          + "document, of any length (seq-length does not apply; distill and evaluate cut a row longer than the "
          + "model's max_position_embeddings into windows; set add-bos=true for rows that start with BOS).");
  public static final ConfigOption<Integer> SEQ_LENGTH = ConfigOption.integer("seq-length").defaultValue(4096)
      .atLeast(1).doc("Training context length; packed rows hold seq-length + 1 tokens.");
  public static final ConfigOption<Double> VALID_FRACTION = ConfigOption.decimal("valid-fraction")
      .defaultValue(0.01).check(v -> v >= 0 && v < 1, "in [0, 1)")
      .doc("Fraction of documents held out for validation, chosen by a seeded hash of each document's text "
          + "(identical documents share a split).");
  public static final ConfigOption<Long> SEED = ConfigOption.longInteger("seed").defaultValue(1234L)
      .doc("Seed of the document shuffle and of the train/valid split; the same seed and input give "
          + "byte-identical output.");
  public static final ConfigOption<Integer> ROWS_PER_SHARD = ConfigOption.integer("rows-per-shard")
      .defaultValue(8192).atLeast(1)
      .doc("Most rows per Parquet file; a split's rows are spread evenly over the fewest files that allows "
          + "(8192 rows of 4097 tokens is about 134 MB of ids before compression).");
  public static final ConfigOption<Boolean> MEGATRON = ConfigOption.bool("megatron").defaultValue(false)
      .doc("Also write Megatron indexed datasets (RUN/tokens/megatron/{train,valid}_text_document.{bin,idx}, one "
          + "document per sequence) for NeMo/Megatron. The driver streams every token to them.");
  public static final ConfigOption<String> TOKEN_DTYPE = ConfigOption.choice("token-dtype", "auto", "uint16", "int32")
      .defaultValue("auto")
      .doc("Token id type of the Megatron files: 'auto' is uint16 for vocabularies up to 65500 ids, else int32 "
          + "(Llama 3.1: int32). Checked against the vocabulary before any work.");
  public static final ConfigOption<Integer> MAX_CHARS = ConfigOption.integer("max-chars").defaultValue(5_000_000)
      .atLeast(1).doc("Documents longer than this many characters are skipped and counted as 'too-long'.");
  public static final ConfigOption<Boolean> STRICT_UTF8 = ConfigOption.bool("strict-utf8").defaultValue(false)
      .doc("Fail on documents holding U+FFFD (what invalid UTF-8 decodes to) instead of skipping them and counting "
          + "them as 'invalid-utf8'.");
  public static final ConfigOption<Double> MAX_SKIPPED_FRACTION = ConfigOption.decimal("max-skipped-fraction")
      .defaultValue(0.5).check(v -> v >= 0 && v <= 1, "in [0, 1]")
      .doc("Fail, writing nothing, when more than this fraction of the documents is skipped (too long, invalid "
          + "UTF-8, empty, ...): a mostly skipped corpus is usually the wrong file or format. The reasons are named.");
  public static final ConfigOption<Integer> PARTITIONS = ConfigOption.integer("partitions").atLeast(1)
      .doc("Tokenization tasks (both splits together); unset: spark.sql.shuffle.partitions.");
  public static final ConfigOption<Integer> BATCH_SIZE = ConfigOption.integer("batch-size").defaultValue(128)
      .atLeast(1).doc("Documents per native batch-encode call.");
  public static final ConfigOption<Boolean> OVERWRITE = ConfigOption.bool("overwrite").deprecatedAlias("force")
      .defaultValue(false)
      .doc("Redo a committed RUN/tokens and replace it atomically; without it a committed output makes the run a "
          + "no-op.");

  /** The options of {@code distillery tokenize}. */
  public static final ConfigSchema SCHEMA = new ConfigSchema("tokenize",
      "Tokenize a text / JSONL / Parquet corpus on Spark into packed Parquet shards (and Megatron files), "
          + "committed as RUN/tokens/.",
      INPUT, FORMAT, DOCUMENT_BOUNDARY, TEXT_FIELD, StageOptions.RUN, TOKENIZER, ADD_BOS, BOS_TOKEN, APPEND_EOD,
      EOD_TOKEN,
      PACKING, SEQ_LENGTH, VALID_FRACTION, SEED, ROWS_PER_SHARD, MEGATRON, TOKEN_DTYPE, MAX_CHARS, STRICT_UTF8,
      MAX_SKIPPED_FRACTION, PARTITIONS, BATCH_SIZE, OVERWRITE);

  /**
   * Reads the options and checks those that depend on each other (without reading the tokenizer or the corpus).
   *
   * @throws ConfigException naming the options and what was expected
   */
  public static TokenizeSettings from(Config config) {
    List<String> inputs = Arrays.stream(config.get(INPUT).split(",")).map(String::trim).filter(s -> !s.isEmpty())
        .toList();
    String format = config.get(FORMAT);
    if (inputs.isEmpty()) {
      throw new ConfigException("option 'input' names no corpus path (got '" + config.get(INPUT) + "')");
    }
    if (format.equals("table") && inputs.size() > 1) {
      throw new ConfigException("option 'input' names " + inputs.size() + " inputs " + inputs + ", but format "
          + "'table' reads one table");
    }
    String packing = config.get(PACKING);
    if ((config.get(ADD_BOS) || packing.equals("packed-bos")) && config.get(BOS_TOKEN).isBlank()) {
      throw new ConfigException("option 'bos-token' is blank, but " + (config.get(ADD_BOS) ? "add-bos is true"
          : "packing 'packed-bos'") + " puts it into the output; name the tokenizer's beginning-of-document token");
    }
    if (config.get(APPEND_EOD) && config.get(EOD_TOKEN).isBlank()) {
      throw new ConfigException("option 'eod-token' is blank, but append-eod is true; name the tokenizer's "
          + "end-of-document token or set append-eod to false");
    }
    Map<String, Object> outputConfig = new LinkedHashMap<>(config.effective());
    List.of(OVERWRITE, PARTITIONS, BATCH_SIZE).forEach(o -> outputConfig.remove(o.key()));
    return new TokenizeSettings(config.get(StageOptions.RUN), config.get(TOKENIZER), inputs, format,
        DocumentBoundary.fromOptionName(config.get(DOCUMENT_BOUNDARY)), config.get(TEXT_FIELD), config.get(ADD_BOS),
        config.get(BOS_TOKEN), config.get(APPEND_EOD), config.get(EOD_TOKEN), packing, config.get(SEQ_LENGTH),
        config.get(VALID_FRACTION), config.get(SEED), config.get(ROWS_PER_SHARD), config.get(MEGATRON),
        config.get(TOKEN_DTYPE), config.get(MAX_CHARS), config.get(STRICT_UTF8), config.get(MAX_SKIPPED_FRACTION),
        config.isSet(PARTITIONS) ? config.get(PARTITIONS) : null, config.get(BATCH_SIZE), config.get(OVERWRITE),
        outputConfig);
  }
}
