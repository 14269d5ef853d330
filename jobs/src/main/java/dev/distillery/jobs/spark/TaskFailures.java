package dev.distillery.jobs.spark;

import dev.distillery.io.BadInputException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
  private static final Pattern STAGE = Pattern.compile("(?:ShuffleMapStage|ResultStage) (\\d+) ");
  /** The error-class suffix Spark 4 appends to a job's message (" SQLSTATE: XXKDA"), which says nothing to a user. */
  private static final Pattern SQL_STATE = Pattern.compile("\\s*SQLSTATE: \\w+\\s*$");
  /** The first task failure of recent stages, which Spark's message for a failed barrier stage leaves out. */
  private static final Map<Integer, String> FIRST_FAILURES = Collections.synchronizedMap(new LinkedHashMap<>() {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Integer, String> eldest) {
      return size() > 64;
    }
  });

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
    if (!(end.reason() instanceof ExceptionFailure failure)) {
      return;
    }
    recordFailure(end.stageId(), failure.className().substring(failure.className().lastIndexOf('.') + 1) + ": "
        + firstLine(String.valueOf(failure.description())));
    if (failure.className().equals(BadInputException.class.getName())) {
      LOG.error("stage {}: task {} failed on bad input; cancelling the stage instead of retrying: {}", end.stageId(),
          end.taskInfo().id(), failure.description());
      spark.cancelStage(end.stageId(), MARKER + firstLine(failure.description()));
    }
  }

  /**
   * The root cause of a failure in one line: Spark's wrappers (whose messages carry the remote stack trace) are
   * unwrapped to the task's exception, a job cancelled for bad input gives that input's message, and a failed stage
   * whose message names no task exception (a barrier stage) gets its first task failure appended.
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
    if (!(root instanceof SparkException)) {
      return message.replaceAll("\\s*\\n\\s*", "; ");
    }
    String line = firstLine(message);
    Matcher stage = STAGE.matcher(line);
    String first = stage.find() ? FIRST_FAILURES.get(Integer.parseInt(stage.group(1))) : null;
    return first == null || line.contains(first) ? line : line + " First task failure: " + first;
  }

  /** Keeps the first task failure of {@code stageId}. */
  static void recordFailure(int stageId, String failure) {
    FIRST_FAILURES.putIfAbsent(stageId, failure);
  }

  private static String firstLine(String message) {
    int end = message.indexOf('\n');
    return SQL_STATE.matcher(end < 0 ? message : message.substring(0, end)).replaceFirst("").trim();
  }
}
