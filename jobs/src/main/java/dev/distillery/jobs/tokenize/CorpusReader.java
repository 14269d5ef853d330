package dev.distillery.jobs.tokenize;

import dev.distillery.tokenize.DocumentBoundary;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;

/**
 * Reads a corpus into a DataFrame with one string column {@code text}, one row per document, through
 * Spark's DataFrame readers (so Spark RAPIDS can accelerate the scans on GPU clusters).
 */
final class CorpusReader {
  static final String TEXT = "text";

  private CorpusReader() {}

  /**
   * The documents of {@code input}.
   *
   * @param format text, jsonl, parquet or table
   * @throws IllegalArgumentException naming the input, field or column when it cannot be read
   */
  static Dataset<Row> read(SparkSession spark, String format, List<String> input, DocumentBoundary boundary,
      String textField) {
    String[] paths = input.toArray(String[]::new);
    try {
      return switch (format) {
        case "text" -> splitTextFiles(spark.read().option("wholetext", true).text(paths), boundary);
        case "jsonl" -> textColumn(spark.read().json(paths), textField, "JSONL field", input);
        case "parquet" -> textColumn(spark.read().parquet(paths), textField, "Parquet column", input);
        case "table" -> textColumn(spark.table(input.get(0)), textField, "table column", input);
        default -> throw new IllegalArgumentException("option 'format': unknown format '" + format + "'");
      };
    } catch (Exception e) { // Spark throws AnalysisException (checked) without declaring it
      if (e instanceof AnalysisException) {
        throw new IllegalArgumentException("option 'input': cannot read " + format + " input " + input + ": "
            + e.getMessage(), e);
      }
      throw e;
    }
  }

  private static Dataset<Row> splitTextFiles(Dataset<Row> files, DocumentBoundary boundary) {
    FlatMapFunction<Row, String> split = file -> boundary.split(file.getString(0)).iterator();
    return files.flatMap(split, Encoders.STRING()).toDF(TEXT);
  }

  private static Dataset<Row> textColumn(Dataset<Row> data, String field, String what, List<String> input) {
    StructField column = Arrays.stream(data.schema().fields()).filter(f -> f.name().equals(field)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("option 'text-field': " + what + " '" + field
            + "' not found in " + input + "; found " + Arrays.toString(data.schema().fieldNames())));
    if (!column.dataType().equals(DataTypes.StringType)) {
      throw new IllegalArgumentException("option 'text-field': " + what + " '" + field + "' in " + input + " is "
          + column.dataType().simpleString() + ", expected string");
    }
    return data.select(data.col(field).as(TEXT));
  }
}
