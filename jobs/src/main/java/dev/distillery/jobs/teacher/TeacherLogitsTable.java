package dev.distillery.jobs.teacher;

import dev.distillery.distill.TeacherLogitsManifest;
import dev.distillery.distill.TopKLogits;
import dev.distillery.io.Storage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The Parquet layout of a teacher-logits table ({@code RUN/teacher-logits/train/*.parquet} and
 * {@code manifest.json}): per row, the token row's {@code input_ids} and its {@link TopKLogits} as three binary
 * columns. Also reads token shards row by row in file order inside a task, and the row counts of shards.
 */
public final class TeacherLogitsTable {
  /** The split whose rows the table holds. */
  public static final String SPLIT = "train";
  static final String IDS = "input_ids";
  static final String TOP_IDS = "top_ids";
  static final String TOP_LOGPROBS = "top_logprobs";
  static final String TAIL = "tail_logmass";
  /** The schema of a shard. */
  static final StructType SCHEMA = new StructType()
      .add(IDS, DataTypes.createArrayType(DataTypes.IntegerType, false), false)
      .add(TOP_IDS, DataTypes.BinaryType, false)
      .add(TOP_LOGPROBS, DataTypes.BinaryType, false)
      .add(TAIL, DataTypes.BinaryType, false);
  /** The columns a reader selects, in this order. */
  public static final List<String> COLUMNS = List.of(IDS, TOP_IDS, TOP_LOGPROBS, TAIL);

  private TeacherLogitsTable() {}

  /**
   * The token ids and stored distribution of a row selected as {@link #COLUMNS}.
   *
   * @param where the file the row came from, named in errors
   */
  public static TopKLogits distribution(Row row, int k, TopKLogits.Values values, String where) {
    return TopKLogits.decode(row.getList(0).size(), k, values, (byte[]) row.get(1), (byte[]) row.get(2),
        (byte[]) row.get(3), where);
  }

  /** The manifest of the table in {@code dir}. */
  public static TeacherLogitsManifest manifest(String dir) {
    String path = Storage.resolve(dir, TeacherLogitsManifest.FILE);
    Storage storage = Storage.of(path);
    if (!storage.isCommitted(dir) || !storage.exists(path)) {
      throw new IllegalArgumentException(dir + " is not a committed teacher-logits table (no " + Storage.COMMIT_MARKER
          + " or " + TeacherLogitsManifest.FILE + "); run the teacher-logits job first");
    }
    return TeacherLogitsManifest.fromJson(storage.readText(path), path);
  }

  /**
   * Rows in a Parquet file's footer.
   *
   * @throws IllegalArgumentException naming the file when it is not a readable Parquet file (e.g. truncated)
   */
  public static long rowCount(String file) {
    try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromPath(new Path(file),
        Storage.configuration()))) {
      return reader.getRecordCount();
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(file + ": not a readable Parquet file (" + e.getMessage()
          + "); it is truncated or damaged", e);
    }
  }

  /** The {@code input_ids} rows of a token shard, lazily, in file order. */
  static Iterator<long[]> tokenRows(String file) {
    ParquetReader<Group> reader;
    try {
      reader = ParquetReader.builder(new GroupReadSupport(), new Path(file)).withConf(Storage.configuration()).build();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open token shard " + file, e);
    }
    return new Iterator<>() {
      private Group next = read();

      private Group read() {
        try {
          Group g = reader.read();
          if (g == null) {
            reader.close();
          }
          return g;
        } catch (IOException e) {
          throw new UncheckedIOException("cannot read token shard " + file, e);
        }
      }

      @Override
      public boolean hasNext() {
        return next != null;
      }

      @Override
      public long[] next() {
        if (next == null) {
          throw new NoSuchElementException();
        }
        long[] ids = ids(next);
        next = read();
        return ids;
      }
    };
  }

  /** A Parquet LIST of int32 (three-level, as Spark writes it, or two-level) as longs. */
  private static long[] ids(Group row) {
    Group list = row.getGroup(IDS, 0);
    int n = list.getFieldRepetitionCount(0);
    long[] ids = new long[n];
    boolean nested = !list.getType().getType(0).isPrimitive();
    for (int i = 0; i < n; i++) {
      ids[i] = nested ? list.getGroup(0, i).getInteger(0, 0) : list.getInteger(0, i);
    }
    return ids;
  }
}
