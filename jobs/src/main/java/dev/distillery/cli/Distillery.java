package dev.distillery.cli;

import dev.distillery.config.CommandLine;
import dev.distillery.config.Config;
import dev.distillery.config.ConfigDocs;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigSchema;
import dev.distillery.jobs.calibrate.CalibrateCommand;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.distill.DistillCommand;
import dev.distillery.jobs.evaluate.EvaluateCommand;
import dev.distillery.jobs.memory.MemoryCommand;
import dev.distillery.jobs.pipeline.PipelineCommand;
import dev.distillery.jobs.plan.PlanCommand;
import dev.distillery.jobs.prune.PruneCommand;
import dev.distillery.jobs.report.ReportCommand;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.spark.TaskFailures;
import dev.distillery.jobs.teacher.TeacherLogitsCommand;
import dev.distillery.jobs.tokenize.TokenizeCommand;
import dev.distillery.jobs.tools.GenerateCommand;
import dev.distillery.jobs.tools.InspectCommand;
import dev.distillery.jobs.tools.LogitsCommand;
import dev.distillery.jobs.tools.RandomCheckpointCommand;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.spark.SparkConf;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code distillery} command: {@code distillery COMMAND [--config FILE] [--set key=value ...]}.
 * Every run ends the JVM itself (Spark barrier stages leave non-daemon threads behind).
 */
public final class Distillery {
  private static final Logger LOG = LoggerFactory.getLogger(Distillery.class);
  /** The log file the launcher names, where a failed command's stack trace is. */
  static final String LOG_FILE_PROPERTY = "distillery.logFile";

  /** Exit status of a run that failed. */
  public static final int FAILED = 1;
  /** Exit status of a command line or configuration that cannot be used. */
  public static final int USAGE = 2;

  private final Map<String, Command> commands = new LinkedHashMap<>();

  Distillery(List<Command> all) {
    all.forEach(c -> commands.put(c.schema().name(), c));
  }

  /** Every command, in the order {@code --help} lists them. */
  public static Distillery standard() {
    List<Command> jobs = List.of(new TokenizeCommand(), new CalibrateCommand(), new PlanCommand(), new PruneCommand(),
        new TeacherLogitsCommand(), new DistillCommand(), new EvaluateCommand(), new ReportCommand());
    List<Command> tools = List.of(new InspectCommand(), new GenerateCommand(), new LogitsCommand(),
        new RandomCheckpointCommand());
    Map<String, Command> byName = new LinkedHashMap<>();
    Stream.concat(jobs.stream(), tools.stream()).forEach(c -> byName.put(c.schema().name(), c));
    List<Command> all = new ArrayList<>(jobs);
    all.add(new PipelineCommand(byName));
    all.add(new MemoryCommand(new PipelineCommand(byName)));
    all.addAll(tools);
    return new Distillery(all);
  }

  /** The command called {@code name}, or null. */
  public Command command(String name) {
    return commands.get(name);
  }

  /** The schemas of every command, for the generated configuration reference. */
  List<ConfigSchema> schemas() {
    return commands.values().stream().map(Command::schema).toList();
  }

  public static void main(String[] args) {
    int status = standard().run(args, System.out, System.err);
    System.exit(status);
  }

  /** Runs one command line and returns the exit status. */
  public int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h") || args[0].equals("help")) {
      out.print(usage());
      return args.length == 0 ? USAGE : 0;
    }
    String name = args[0];
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    if (name.equals("pipeline") || name.equals("memory")) {
      rest = PipelineCommand.normalizeArguments(rest);
    }
    if (name.equals("docs")) {
      out.print(ConfigDocs.markdown(schemas()));
      return 0;
    }
    Command command = commands.get(name);
    if (command == null) {
      err.println("distillery: unknown command '" + name + "'; commands: " + String.join(", ", commands.keySet()));
      return USAGE;
    }
    if (CommandLine.wantsHelp(rest)) {
      out.print(command.schema().help());
      return 0;
    }
    Config config;
    try {
      config = CommandLine.parse(command.commandLine(), rest);
    } catch (ConfigException e) {
      err.println("distillery " + name + ": " + e.getMessage());
      return USAGE;
    }
    try {
      HadoopConf.installWithoutSession(new SparkConf(true)); // a job's Spark session replaces it with its own
      command.run(config, out);
      return 0;
    } catch (ConfigException e) {
      err.println("distillery " + name + ": " + e.getMessage());
      return USAGE;
    } catch (Exception | Error e) {
      LOG.error("distillery {} failed", name, e);
      String logFile = System.getProperty(LOG_FILE_PROPERTY);
      err.println("distillery " + name + ": error: " + TaskFailures.oneLine(e)
          + (logFile == null ? "" : " (stack trace in " + logFile + ")"));
      return FAILED;
    }
  }


  private String usage() {
    StringBuilder sb = new StringBuilder();
    sb.append("usage: distillery COMMAND [--config FILE.yaml] [--set key=value ...] [--key value ...]\n\n");
    sb.append("Commands:\n");
    for (Command c : commands.values()) {
      ConfigSchema s = c.schema();
      sb.append(String.format("  %-10s %s%n", s.name(), s.summary()));
    }
    sb.append(String.format("  %-10s %s%n", "docs", "Print the configuration reference (Markdown) for every command."));
    sb.append("\n'distillery COMMAND --help' lists a command's options.\n");
    return sb.toString();
  }
}
