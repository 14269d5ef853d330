package dev.distillery.jobs.tokenize;

import dev.distillery.tokenize.DocumentEncoder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Encodes one partition of documents (rows of the text and the valid flag), in order, a batch at a time,
 * and logs the partition's documents, tokens and tokens/s when done.
 */
final class EncodePartition implements Function2<Integer, Iterator<Row>, Iterator<TokenizedDocument>> {
  private static final Logger LOG = LoggerFactory.getLogger(EncodePartition.class);

  private final TokenizerRef tokenizer;
  private final int batchSize;

  EncodePartition(TokenizerRef tokenizer, int batchSize) {
    this.tokenizer = tokenizer;
    this.batchSize = batchSize;
  }

  @Override
  public Iterator<TokenizedDocument> call(Integer partition, Iterator<Row> rows) {
    DocumentEncoder encoder = tokenizer.encoder();
    long start = System.nanoTime();
    return new Iterator<>() {
      private int[][] batch = new int[0][];
      private final int[] splits = new int[batchSize];
      private int next;
      private long documents;
      private long tokens;

      @Override
      public boolean hasNext() {
        if (next < batch.length) {
          return true;
        }
        List<String> texts = new ArrayList<>(batchSize);
        while (texts.size() < batchSize && rows.hasNext()) {
          Row row = rows.next();
          splits[texts.size()] = row.getBoolean(1) ? 1 : 0;
          texts.add(row.getString(0));
        }
        if (texts.isEmpty()) {
          logDone();
          return false;
        }
        batch = encoder.encode(texts);
        next = 0;
        return true;
      }

      @Override
      public TokenizedDocument next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        TokenizedDocument document = new TokenizedDocument(splits[next], batch[next]);
        batch[next++] = null;
        documents++;
        tokens += document.ids().length;
        return document;
      }

      private void logDone() {
        if (documents > 0) {
          double seconds = (System.nanoTime() - start) / 1e9;
          LOG.info("tokenize partition {}: {} documents, {} tokens in {} s ({} tokens/s)", partition, documents,
              tokens, String.format("%.2f", seconds), String.format("%.0f", tokens / seconds));
          documents = 0;
        }
      }
    };
  }
}
