package dev.distillery.jobs.packaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.jobs.packaging.Scripts.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The cluster scripts' --help and dry runs: the commands they would run hold the pieces each stage needs. */
class SubmitScriptsTest {
  private static final String WRAPPER = "submit-scripts/spark-submit-distillery";
  /** A jar that does not exist: dry runs must not need a build. */
  private static final String JAR = "/nonexistent/distillery-jobs-0.1.0-SNAPSHOT-spark.jar";
  private static final Map<String, String> NO_JAR = Map.of("DISTILLERY_JAR", JAR);
  private static final String WIDTH = "conf/llama-3.1-8b-minitron-4b-width.yaml";

  private static Result wrapper(String... args) {
    return Scripts.run(WRAPPER, NO_JAR, args);
  }

  @Test
  void wrapperHelpListsItsOptions() {
    Result r = wrapper("--help");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("--master", "--deploy-mode", "--executors", "--gpus-per-executor", "--stage-profile",
        "--s3", "--dry-run", "--jar", "COMMAND --config FILE");
  }

  @Test
  void distillDryRunIsABarrierStageOnAllGpusWithoutRapids() {
    Result r = wrapper("--executors", "4", "--gpus-per-executor", "8", "--s3", "--dry-run", "distill", "--config", WIDTH);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.err()).contains("application jar not found");
    String cmd = r.out();
    assertThat(cmd).startsWith("env RUST_FLAVOR=cpu spark-submit")
        .contains("--class dev.distillery.cli.Distillery", JAR, "distill \\\n  --config " + WIDTH)
        .contains("spark.dynamicAllocation.enabled=false", "spark.barrier.sync.timeout=1800",
            "spark.executor.instances=4", "spark.executor.resource.gpu.amount=8", "spark.task.resource.gpu.amount=8",
            "spark.executor.resource.gpu.discoveryScript=/opt/distillery/bin/gpu-discovery.sh")
        .contains("spark.executorEnv.PYTORCH_VERSION=2.7.1", "spark.executorEnv.PYTORCH_FLAVOR=cu128",
            "spark.executorEnv.DJL_OFFLINE=false", "spark.executorEnv.DJL_CACHE_DIR=", "spark.executorEnv.RUST_FLAVOR=cpu")
        .contains("spark.driver.extraJavaOptions=-XX:+IgnoreUnrecognizedVMOptions --add-opens=java.base/java.lang=ALL-UNNAMED",
            "spark.executor.extraJavaOptions=-XX:+IgnoreUnrecognizedVMOptions --add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED")
        .contains("--conf spark.plugins= ", "spark.rapids.sql.enabled=false", "spark.rapids.memory.gpu.allocFraction=0.05")
        .doesNotContain("com.nvidia.spark.SQLPlugin")
        .contains("spark.hadoop.fs.s3a.aws.credentials.provider=com.amazonaws.auth.DefaultAWSCredentialsProviderChain")
        .doesNotContain("access.key", "secret.key", "AKIA");
    // The world-size of the config matches --executors 4: no warning.
    assertThat(r.err()).doesNotContain("world-size");
  }

  @Test
  void tokenizeDryRunUsesRapidsAndSharesTheGpus() {
    Result r = wrapper("--executors", "2", "--gpus-per-executor", "4", "--rapids-jar", "/opt/rapids-4-spark_2.12-24.12.0.jar",
        "--dry-run", "tokenize", "--config", WIDTH);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("spark.plugins=com.nvidia.spark.SQLPlugin", "spark.rapids.sql.enabled=true",
            "spark.rapids.memory.pinnedPool.size=2g", "spark.executor.resource.gpu.amount=4",
            "spark.task.resource.gpu.amount=0.125", "--jars /opt/rapids-4-spark_2.12-24.12.0.jar",
            "spark.executorEnv.RUST_FLAVOR=cpu")
        .doesNotContain("spark.dynamicAllocation.enabled=false", "spark.barrier.sync.timeout");
  }

  @Test
  void stageProfileOverridesTheDefault() {
    Result r = wrapper("--stage-profile", "tokenize", "--dry-run", "calibrate", "--config", WIDTH);
    assertThat(r.out()).contains("com.nvidia.spark.SQLPlugin");
    Result djl = wrapper("--stage-profile", "djl", "--dry-run", "tokenize", "--config", WIDTH);
    assertThat(djl.out()).doesNotContain("com.nvidia.spark.SQLPlugin").contains("spark.rapids.sql.enabled=false");
  }

  @Test
  void localModeRunsOnTheCpuWithTheEnvironmentOnTheCommand() {
    Result r = wrapper("--master", "local[4]", "--dry-run", "tokenize", "--config", "conf/tokenize-sample.yaml");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).startsWith("env ").contains("PYTORCH_FLAVOR=cpu", "RUST_FLAVOR=cpu", "--master 'local[4]'",
        "spark.driver.memory=8g").doesNotContain("gpu.amount", "SQLPlugin", "spark.executor.instances");
  }

  @Test
  void clusterModeShipsTheConfigAndSetsTheDriverEnvironment() {
    Result r = wrapper("--deploy-mode", "cluster", "--libtorch-path", "/opt/distillery/libtorch/lib", "--print-args",
        "pipeline", "--config", "s3://YOUR-BUCKET/conf/width.yaml", "--set", "distill.steps=10");
    assertThat(r.exit()).as(r.err()).isZero();
    List<String> args = r.out().lines().toList();
    assertThat(args).containsSubsequence("--files", "s3://YOUR-BUCKET/conf/width.yaml")
        .containsSubsequence(JAR, "pipeline", "--config", "width.yaml", "--set", "distill.steps=10")
        .contains("spark.yarn.appMasterEnv.PYTORCH_LIBRARY_PATH=/opt/distillery/libtorch/lib",
            "spark.executorEnv.PYTORCH_LIBRARY_PATH=/opt/distillery/libtorch/lib", "spark.executorEnv.DJL_OFFLINE=true",
            "spark.dynamicAllocation.enabled=false");
    assertThat(args.get(0)).isEqualTo("--master");
  }

  @Test
  void wrapperErrorsAreOneLineAndNonZero() {
    List<Result> failures = new ArrayList<>();
    failures.add(wrapper("--bogus", "distill", "--config", WIDTH));
    failures.add(wrapper("--dry-run", "distill"));
    failures.add(wrapper("--dry-run", "distill", "--config", "/nonexistent/config.yaml"));
    failures.add(wrapper("--dry-run", "frobnicate", "--config", WIDTH));
    failures.add(wrapper("--dry-run", "--gpus-per-executor", "two", "distill", "--config", WIDTH));
    failures.add(wrapper("--dry-run", "distill", "--config", "s3://b/remote.yaml"));
    failures.add(wrapper("distill", "--config", WIDTH)); // not a dry run: the jar must exist
    for (Result r : failures) {
      assertThat(r.exit()).isNotZero();
      assertThat(r.out()).isEmpty();
      assertThat(r.err().strip().lines()).hasSize(1).allMatch(l -> l.startsWith("spark-submit-distillery: "));
    }
    assertThat(failures.get(6).err()).contains("application jar not found: " + JAR);
  }

  @Test
  void localClusterHelpAndErrorsStartNothing() {
    Result help = Scripts.run("submit-scripts/local-cluster", Map.of(), "--help");
    assertThat(help.exit()).isZero();
    assertThat(help.out()).contains("PIPELINE.yaml", "--workers", "--worker-cores", "--worker-memory", "--work-dir",
        "spark-submit-distillery");
    for (String[] args : List.of(new String[] {}, new String[] {"/nonexistent/pipeline.yaml"},
        new String[] {"conf/sample.yaml", "--workers", "zero"}, new String[] {"conf/sample.yaml", "--bogus"})) {
      Result r = Scripts.run("submit-scripts/local-cluster", Map.of(), args);
      assertThat(r.exit()).as(String.join(" ", args)).isEqualTo(2);
      assertThat(r.err().strip().lines()).hasSize(1).allMatch(l -> l.startsWith("local-cluster: "));
    }
  }

  @Test
  void mismatchedWorldSizeIsReported() {
    Result r = wrapper("--executors", "2", "--dry-run", "distill", "--config", WIDTH);
    assertThat(r.exit()).isZero();
    assertThat(r.err()).contains("world-size 4", "--executors 2");
  }

  @Test
  void gpuDiscoveryListsVisibleGpus(@TempDir Path dir) throws IOException {
    Path smi = dir.resolve("nvidia-smi");
    Files.writeString(smi, "#!/bin/sh\nprintf '0, GPU-aaaa\\n1, GPU-bbbb\\n2, GPU-cccc\\n3, GPU-dddd\\n'\n");
    Files.setPosixFilePermissions(smi, PosixFilePermissions.fromString("rwxr-xr-x"));
    String path = dir + ":" + System.getenv("PATH");
    String script = "submit-scripts/gpu-discovery.sh";

    assertThat(Scripts.run(script, Map.of("PATH", path)).out().strip())
        .isEqualTo("{\"name\": \"gpu\", \"addresses\": [\"0\",\"1\",\"2\",\"3\"]}");
    assertThat(Scripts.run(script, Map.of("PATH", path, "CUDA_VISIBLE_DEVICES", "2,3")).out().strip())
        .isEqualTo("{\"name\": \"gpu\", \"addresses\": [\"0\",\"1\"]}");
    assertThat(Scripts.run(script, Map.of("PATH", path, "CUDA_VISIBLE_DEVICES", "GPU-cccc,9,1")).out().strip())
        .as("listing stops at the first entry that names no GPU")
        .isEqualTo("{\"name\": \"gpu\", \"addresses\": [\"0\"]}");
    assertThat(Scripts.run(script, Map.of("PATH", path, "CUDA_VISIBLE_DEVICES", "")).out().strip())
        .isEqualTo("{\"name\": \"gpu\", \"addresses\": []}");
    Result none = Scripts.run(script, Map.of("NVIDIA_SMI", "no-such-nvidia-smi"));
    assertThat(none.exit()).isZero();
    assertThat(none.out().strip()).isEqualTo("{\"name\": \"gpu\", \"addresses\": []}");
    // What Spark reads must be JSON.
    JsonNode json = new ObjectMapper().readTree(Scripts.run(script, Map.of("PATH", path)).out());
    assertThat(json.get("addresses")).hasSize(4);
    assertThat(Scripts.run(script, Map.of(), "--help").out()).contains("CUDA_VISIBLE_DEVICES");
  }

  @Test
  void bootstrapDryRunChangesNothingAndARealRunIsIdempotent(@TempDir Path dir) throws IOException {
    String script = "submit-scripts/bootstrap-node.sh";
    assertThat(Scripts.run(script, Map.of(), "--help").out()).contains("--libtorch-url", "--dry-run");
    Result dry = Scripts.run(script, Map.of(), "--dry-run", "--prefix", dir.resolve("opt").toString(),
        "--libtorch-url", "https://download.pytorch.org/libtorch/cu128/libtorch.zip");
    assertThat(dry.exit()).as(dry.err()).isZero();
    assertThat(dry.out()).contains("install -m 0755", "gpu-discovery.sh", "curl", "unzip", "PYTORCH_LIBRARY_PATH");
    assertThat(dir.resolve("opt")).doesNotExist();

    assumeTrue("root".equals(System.getProperty("user.name")), "a real bootstrap run may need sudo");
    String[] args = {"--prefix", dir.resolve("opt").toString(), "--djl-cache-dir", dir.resolve("djl $(id)").toString(),
        "--s3a-buffer-dir", dir.resolve("s3a").toString(), "--profile-file", dir.resolve("profile.sh").toString()};
    Result first = Scripts.run(script, Map.of(), args);
    assertThat(first.exit()).as(first.err()).isZero();
    Path installed = dir.resolve("opt/bin/gpu-discovery.sh");
    assertThat(installed).isExecutable().hasSameTextualContentAs(Scripts.ROOT.resolve("submit-scripts/gpu-discovery.sh"));
    String profile = Files.readString(dir.resolve("profile.sh"));
    assertThat(profile).contains("export RUST_FLAVOR=cpu", "export PYTORCH_FLAVOR=cu128", "export PYTORCH_VERSION=2.7.1");
    for (String cache : List.of("djl $(id)", "s3a")) {
      assertThat(java.nio.file.Files.getPosixFilePermissions(dir.resolve(cache))).as(cache + " is not world-writable")
          .doesNotContain(java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE,
              java.nio.file.attribute.PosixFilePermission.OTHERS_READ);
    }
    Path reader = Files.writeString(dir.resolve("source-profile.sh"), ". \"$1\" && printf %s \"$DJL_CACHE_DIR\"\n");
    Result sourced = Scripts.run(reader.toString(), Map.of(), dir.resolve("profile.sh").toString());
    assertThat(sourced.out()).as("a cache path with shell characters is quoted, not run")
        .isEqualTo(dir.resolve("djl $(id)").toString());
    Result second = Scripts.run(script, Map.of(), args);
    assertThat(second.exit()).isZero();
    assertThat(second.err()).contains("is up to date");
    assertThat(Files.readString(dir.resolve("profile.sh"))).isEqualTo(profile);
  }

  @Test
  void emrPipelineStepRunsTheWrapperCommandInClusterMode() throws IOException {
    Result r = Scripts.run("submit-scripts/emr-add-steps.sh", Map.of(), "--cluster-id", "j-EXAMPLE",
        "--jar", "s3://YOUR-BUCKET/jars/distillery.jar", "--config", "s3://YOUR-BUCKET/conf/width.yaml", "--dry-run");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).startsWith("aws emr add-steps --cluster-id j-EXAMPLE --steps file://");
    JsonNode steps = steps(r.out());
    assertThat(steps).hasSize(1);
    List<String> args = texts(steps.get(0).get("Args"));
    assertThat(steps.get(0).get("Type").asText()).isEqualTo("Spark");
    assertThat(args).containsSubsequence("--deploy-mode", "cluster")
        .containsSubsequence("--files", "s3://YOUR-BUCKET/conf/width.yaml")
        .containsSubsequence("s3://YOUR-BUCKET/jars/distillery.jar", "pipeline", "--config", "width.yaml")
        .contains("spark.dynamicAllocation.enabled=false", "spark.executor.instances=4",
            "spark.task.resource.gpu.amount=8", "spark.yarn.appMasterEnv.RUST_FLAVOR=cpu");
  }

  @Test
  void emrStageStepsUseRapidsForTokenizeOnly() throws IOException {
    Result r = Scripts.run("submit-scripts/emr-add-steps.sh", Map.of(), "--cluster-id", "j-EXAMPLE", "--region", "us-east-1",
        "--jar", "s3://YOUR-BUCKET/jars/distillery.jar", "--mode", "stages", "--config-prefix", "s3://YOUR-BUCKET/conf/width/",
        "--dry-run");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("--region us-east-1");
    JsonNode steps = steps(r.out());
    assertThat(steps).hasSize(7);
    List<String> tokenize = texts(steps.get(0).get("Args"));
    List<String> correction = texts(steps.get(1).get("Args"));
    assertThat(tokenize).contains("spark.plugins=com.nvidia.spark.SQLPlugin")
        .containsSubsequence("tokenize", "--config", "tokenize.yaml");
    assertThat(correction).doesNotContain("spark.plugins=com.nvidia.spark.SQLPlugin")
        .contains("spark.dynamicAllocation.enabled=false")
        .containsSubsequence("distill", "--config", "teacher-training.yaml");
    assertThat(Scripts.run("submit-scripts/emr-add-steps.sh", Map.of(), "--jar", "s3://b/j.jar").exit()).isNotZero();
  }

  @Test
  void databricksSubmitPrintsTheCommandsWithoutTheToken() {
    Map<String, String> env = Map.of("DATABRICKS_HOST", "https://example.cloud.databricks.com",
        "DATABRICKS_TOKEN", "dapi-not-a-real-token-0123");
    Result curl = Scripts.run("submit-scripts/databricks-submit.sh", env, "--api", "curl", "--dry-run");
    assertThat(curl.exit()).as(curl.err()).isZero();
    assertThat(curl.out()).contains("/api/2.1/jobs/create", "/api/2.1/jobs/run-now", "--data @", "conf/databricks/job.json",
        "Bearer $DATABRICKS_TOKEN").doesNotContain("dapi-not-a-real-token-0123");
    Result cli = Scripts.run("submit-scripts/databricks-submit.sh", env, "--api", "cli", "--job-id", "42", "--dry-run");
    assertThat(cli.out().strip()).isEqualTo("databricks jobs run-now 42");
    Result create = Scripts.run("submit-scripts/databricks-submit.sh", env, "--api", "cli", "--create-only", "--dry-run");
    assertThat(create.out()).contains("databricks jobs create --json @").doesNotContain("run-now");
    assertThat(Scripts.run("submit-scripts/databricks-submit.sh", env, "--bogus").exit()).isNotZero();
    assertThat(Scripts.run("submit-scripts/databricks-submit.sh", Map.of(), "--help").out()).contains("--job-id");
  }

  @Test
  void databricksInitScriptHelpAndDryRun() {
    Result help = Scripts.run("conf/databricks/init-distillery.sh", Map.of(), "--help");
    assertThat(help.exit()).isZero();
    assertThat(help.out()).contains("DJL");
    Result dry = Scripts.run("conf/databricks/init-distillery.sh", Map.of(), "--dry-run");
    assertThat(dry.exit()).as(dry.err()).isZero();
    assertThat(dry.out()).contains("mkdir -p /local_disk0/distillery/djl-cache", "RUST_FLAVOR=cpu",
        "chmod 0755 /local_disk0/distillery/djl-cache").doesNotContain("1777");
  }

  private static JsonNode steps(String dryRun) throws IOException {
    String marker = "# STEPS.json:\n";
    return new ObjectMapper().readTree(dryRun.substring(dryRun.indexOf(marker) + marker.length()));
  }

  private static List<String> texts(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }
}
