package dev.distillery.jobs.tokenize;

import dev.distillery.io.BadInputException;
import dev.distillery.io.Storage;
import java.util.List;
import java.util.function.IntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Writes rows of token ids as Parquet files (one column {@code input_ids}, array&lt;int&gt;), one per RDD
 * partition, through Spark's Parquet writer; Spark's uuid-named files are renamed to the names the caller
 * gives each partition, so reruns give the same names.
 */
public final class ParquetShards {
  /** The one column of a token shard: a sequence's token ids. */
  public static final String COLUMN = "input_ids";
  /** The schema of a token shard. */
  public static final StructType SCHEMA = new StructType()
      .add(COLUMN, DataTypes.createArrayType(DataTypes.IntegerType, false), false);
  private static final Pattern SPARK_PART = Pattern.compile("part-(\\d+)-.*\\.parquet");

  private ParquetShards() {}

  /**
   * Fails when the split directory {@code split} belongs to a tokenize output (its parent) that a stage wrote but did
   * not commit; see {@link Storage#requireCommitted}. Shards a user supplied, without a manifest, are read as they are.
   */
  public static void requireCommitted(String split) {
    Path parent = new Path(split).getParent();
    Storage storage = Storage.of(split);
    storage.requireCommitted(parent == null ? split : parent.toString(), "the output holding the shards " + split);
  }

  /** The token ids in the first column of {@code row} (a row of a shard, or of a selection of {@link #COLUMN}). */
  public static long[] ids(Row row) {
    List<Integer> values = row.getList(0);
    long[] ids = new long[values.size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = values.get(i);
    }
    return ids;
  }

  /**
   * {@link #ids}, kept as int32.
   *
   * @throws BadInputException when the row or one of its ids is null
   */
  public static int[] intIds(Row row) {
    if (row.isNullAt(0)) {
      throw new BadInputException("a row of " + COLUMN + " is null; every row needs at least one token id");
    }
    List<Integer> values = row.getList(0);
    int[] ids = new int[values.size()];
    for (int i = 0; i < ids.length; i++) {
      Integer id = values.get(i);
      if (id == null) {
        throw new BadInputException("a row of " + COLUMN + " holds a null token id at position " + i);
      }
      ids[i] = id;
    }
    return ids;
  }

  /**
   * Writes partition {@code i} of {@code rows} as the file {@code files.apply(i)}.
   *
   * @param scratch a directory for Spark's own output, deleted afterwards
   * @throws IllegalStateException when a partition wrote no file
   */
  static void write(SparkSession spark, Storage storage, JavaRDD<int[]> rows, int shards, IntFunction<String> files,
      String scratch) {
    write(spark, storage, rows.map(ids -> RowFactory.create((Object) ids)), SCHEMA, shards, files, scratch);
  }

  /** Like {@link #write(SparkSession, Storage, JavaRDD, int, IntFunction, String)}, for rows of any schema. */
  public static void write(SparkSession spark, Storage storage, JavaRDD<Row> table, StructType schema, int shards,
      IntFunction<String> files, String scratch) {
    if (shards == 0) {
      return;
    }
    spark.createDataFrame(table, schema).write().option("compression", "snappy").parquet(scratch);
    int written = 0;
    for (String file : storage.list(scratch)) {
      Matcher m = SPARK_PART.matcher(file.substring(file.lastIndexOf('/') + 1));
      if (m.matches()) {
        storage.rename(file, files.apply(Integer.parseInt(m.group(1))));
        written++;
      }
    }
    storage.delete(scratch);
    if (written != shards) {
      throw new IllegalStateException("expected " + shards + " Parquet shards, Spark wrote " + written + " in "
          + scratch);
    }
  }
}
