package dev.distillery.spark;

import dev.distillery.io.BadInputException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.ExceptionFailure;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkException;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a {@link BadInputException} in a Spark task fail its job at once: Spark retries a failed task up to
 * {@code spark.task.maxFailures} times and a failed barrier stage up to {@code spark.stage.maxConsecutiveAttempts}
 * times, which cannot help when the input itself is wrong. A listener cancels the stage on the first such failure
 * (before the barrier stage's resubmission, which Spark delays by 200 ms), and {@link #oneLine} turns what the driver
 * then catches into the task's one-line message.
 */
public final class TaskFailures extends SparkListener {
  private static final Logger LOG = LoggerFactory.getLogger(TaskFailures.class);
  private static final String MARKER = "bad input, not retried: ";
  private static final Set<String> INSTALLED = ConcurrentHashMap.newKeySet();

  private final SparkContext spark;

  private TaskFailures(SparkContext spark) {
    this.spark = spark;
  }

  /** Installs the listener on {@code spark} once. */
  public static void install(SparkContext spark) {
    if (INSTALLED.add(spark.applicationId())) {
      spark.addSparkListener(new TaskFailures(spark));
    }
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd end) {
    if (end.reason() instanceof ExceptionFailure failure
        && failure.className().equals(BadInputException.class.getName())) {
      LOG.error("stage {}: task {} failed on bad input; cancelling the stage instead of retrying: {}", end.stageId(),
          end.taskInfo().id(), failure.description());
      spark.cancelStage(end.stageId(), MARKER + firstLine(failure.description()));
    }
  }

  /**
   * The root cause of a failure in one line: Spark's wrappers (whose messages carry the remote stack trace) are
   * unwrapped to the task's exception, and a job cancelled for bad input gives that input's message.
   */
  public static String oneLine(Throwable e) {
    Throwable root = e;
    while (root instanceof SparkException && root.getCause() != null) {
      root = root.getCause();
    }
    String message = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
    if (message.contains(MARKER)) {
      return firstLine(message.substring(message.indexOf(MARKER) + MARKER.length()));
    }
    return root instanceof SparkException ? firstLine(message) : message.replaceAll("\\s*\\n\\s*", "; ");
  }

  private static String firstLine(String message) {
    int end = message.indexOf('\n');
    return (end < 0 ? message : message.substring(0, end)).trim();
  }
}
