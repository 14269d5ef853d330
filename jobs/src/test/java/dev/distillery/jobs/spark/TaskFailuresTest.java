package dev.distillery.jobs.spark;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.io.BadInputException;
import org.apache.spark.SparkException;
import org.junit.jupiter.api.Test;

/** What the user reads of a failed Spark job: one line, the root cause. */
class TaskFailuresTest {
  private static final String REMOTE_TRACE = "\n\tat dev.distillery.jobs.calibrate.CalibrationTask.call("
      + "CalibrationTask.java:55)\n\tat org.apache.spark.rdd.RDD.iterator(RDD.scala:331)\n\nDriver stacktrace:"
      + "\n\tat org.apache.spark.x(y)";

  @Test
  void aTaskExceptionIsUnwrappedFromSparksMessage() {
    SparkException job = new SparkException("Job aborted due to stage failure: Task 0 in stage 3.0 failed 4 times, "
        + "most recent failure: Lost task 0.3 in stage 3.0 (TID 7): java.lang.IllegalStateException: boom"
        + REMOTE_TRACE, new IllegalStateException("boom\nsecond line"));
    assertThat(TaskFailures.oneLine(job)).isEqualTo("boom; second line");
    assertThat(TaskFailures.oneLine(new SparkException("Job aborted due to stage failure: Lost task 0.0: x: y"
        + REMOTE_TRACE))).isEqualTo("Job aborted due to stage failure: Lost task 0.0: x: y");
    assertThat(TaskFailures.oneLine(new SparkException("x", new BadInputException("file.parquet: bad row"))))
        .isEqualTo("file.parquet: bad row");
    assertThat(TaskFailures.oneLine(new SparkException("Job 5 cancelled because bad input, not retried: "
        + "file.parquet: bad row"))).isEqualTo("file.parquet: bad row");
    assertThat(TaskFailures.oneLine(new SparkException("Job 5 cancelled because bad input, not retried: "
        + "file.parquet: bad row SQLSTATE: XXKDA"))).as("Spark 4's error-class suffix")
        .isEqualTo("file.parquet: bad row");
  }

  @Test
  void aFailedBarrierStageNamesItsFirstTaskFailure() {
    TaskFailures.recordFailure(916, "BufferOverflowException: null");
    TaskFailures.recordFailure(916, "CollectiveException: rank 0: from left rank 1 closed the connection");
    assertThat(TaskFailures.oneLine(new SparkException("Job aborted due to stage failure: ShuffleMapStage 916 "
        + "(repartition at DistillJob.java:107) has failed the maximum allowable number of times: 4. Most recent "
        + "failure reason: Stage failed because barrier task ShuffleMapTask(916, 1) finished unsuccessfully.\n"
        + REMOTE_TRACE))).isEqualTo("Job aborted due to stage failure: ShuffleMapStage 916 (repartition at "
        + "DistillJob.java:107) has failed the maximum allowable number of times: 4. Most recent failure reason: "
        + "Stage failed because barrier task ShuffleMapTask(916, 1) finished unsuccessfully. First task failure: "
        + "BufferOverflowException: null");
  }
}
