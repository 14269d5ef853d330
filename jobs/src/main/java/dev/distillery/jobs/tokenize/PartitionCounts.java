package dev.distillery.jobs.tokenize;

import java.io.Serializable;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;

/**
 * Documents and tokens of every split in every partition of the encoded, globally ordered corpus, and
 * from them where each partition starts in each split's document and token stream.
 */
final class PartitionCounts implements Serializable {
  private final long[][] documents; // [split][partition]
  private final long[][] tokens;

  private PartitionCounts(long[][] documents, long[][] tokens) {
    this.documents = documents;
    this.tokens = tokens;
  }

  /** Counts {@code encoded} (one Spark job, which computes it). */
  static PartitionCounts of(JavaRDD<TokenizedDocument> encoded, int splits) {
    List<long[]> perPartition = encoded.mapPartitionsWithIndex((partition, docs) -> {
      long[] counts = new long[1 + 2 * splits]; // partition, then documents and tokens per split
      counts[0] = partition;
      while (docs.hasNext()) {
        TokenizedDocument doc = docs.next();
        counts[1 + 2 * doc.split()]++;
        counts[2 + 2 * doc.split()] += doc.ids().length;
      }
      return List.of(counts).iterator();
    }, true).collect();
    long[][] documents = new long[splits][perPartition.size()];
    long[][] tokens = new long[splits][perPartition.size()];
    for (long[] c : perPartition) {
      for (int s = 0; s < splits; s++) {
        documents[s][(int) c[0]] = c[1 + 2 * s];
        tokens[s][(int) c[0]] = c[2 + 2 * s];
      }
    }
    return new PartitionCounts(documents, tokens);
  }

  /** Documents of split {@code split}. */
  long documents(int split) {
    return sum(documents[split], documents[split].length);
  }

  /** Tokens of split {@code split}. */
  long tokens(int split) {
    return sum(tokens[split], tokens[split].length);
  }

  /** Per split, the index of partition {@code partition}'s first document in the split's documents. */
  long[] firstDocuments(int partition) {
    return starts(documents, partition);
  }

  /** Per split, the stream position of partition {@code partition}'s first token in the split's token stream. */
  long[] firstTokens(int partition) {
    return starts(tokens, partition);
  }

  private static long[] starts(long[][] counts, int partition) {
    long[] starts = new long[counts.length];
    for (int s = 0; s < counts.length; s++) {
      starts[s] = sum(counts[s], partition);
    }
    return starts;
  }

  private static long sum(long[] values, int count) {
    long sum = 0;
    for (int i = 0; i < count; i++) {
      sum += values[i];
    }
    return sum;
  }
}
