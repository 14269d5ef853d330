package dev.distillery.jobs.tokenize;

import dev.distillery.tokenize.SplitSummary;
import dev.distillery.tokenize.TokenizeManifest;

/**
 * The outcome of one {@link TokenizeJob} run.
 *
 * @param output the committed output directory (RUN/tokens)
 * @param manifest what it holds; null when the run found it already committed and did nothing
 * @param seconds wall-clock time of the run
 * @param tokenizeSeconds time spent in the tokenization stages (reading, splitting and encoding)
 */
public record TokenizeResult(String output, TokenizeManifest manifest, double seconds, double tokenizeSeconds) {

  /** Documents kept, over all splits. */
  public long documents() {
    return manifest.splits().values().stream().mapToLong(SplitSummary::documents).sum();
  }

  /** Tokens produced, over all splits. */
  public long tokens() {
    return manifest.splits().values().stream().mapToLong(SplitSummary::tokens).sum();
  }

  /** The final summary line. */
  public String summary() {
    if (manifest == null) {
      return "tokenize: " + output + " is already committed; nothing to do (overwrite=true redoes it)";
    }
    StringBuilder sb = new StringBuilder(String.format("tokenize: %,d documents, %,d tokens in %.1f s (%,.0f tokens/s)"
        + " -> %s", documents(), tokens(), seconds, tokens() / seconds, output));
    manifest.splits().forEach((name, s) -> sb.append(String.format("%n  %-5s %,d documents, %,d tokens, %,d rows in "
        + "%d shard(s), %,d tokens dropped", name, s.documents(), s.tokens(), s.sequences(), s.shards(),
        s.droppedTokens())));
    sb.append("\n  skipped documents: ").append(manifest.skipped());
    return sb.toString();
  }
}
