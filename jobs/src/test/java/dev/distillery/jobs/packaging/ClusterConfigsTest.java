package dev.distillery.jobs.packaging;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.distillery.cli.Distillery;
import dev.distillery.jobs.pipeline.PipelineCommand;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The cluster configuration files parse, carry what the clusters need, and name only real options. */
class ClusterConfigsTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final List<String> SHARED_KEYS = List.of("run", "corpus", "tokenizer", "teacher");

  private static JsonNode json(String file) throws IOException {
    return JSON.readTree(Scripts.ROOT.resolve(file).toFile());
  }

  @Test
  void emrConfigurationsEnableGpuSchedulingAndTurnDynamicAllocationOff() throws IOException {
    JsonNode root = json("conf/emr/configurations.json");
    assertThat(root.isArray()).isTrue();
    Map<String, JsonNode> byClass = new LinkedHashMap<>();
    root.forEach(c -> {
      assertThat(c.hasNonNull("Classification")).as("every entry has a Classification").isTrue();
      byClass.put(c.get("Classification").asText(), c);
    });
    assertThat(byClass).containsKeys("spark", "yarn-site", "container-executor", "capacity-scheduler", "spark-defaults",
        "spark-env");
    JsonNode yarn = byClass.get("yarn-site").get("Properties");
    assertThat(yarn.get("yarn.resource-types").asText()).isEqualTo("yarn.io/gpu");
    assertThat(yarn.get("yarn.nodemanager.resource-plugins").asText()).isEqualTo("yarn.io/gpu");
    assertThat(yarn.get("yarn.nodemanager.container-executor.class").asText()).endsWith("LinuxContainerExecutor");
    List<String> sub = new ArrayList<>();
    byClass.get("container-executor").get("Configurations").forEach(c -> sub.add(c.get("Classification").asText()));
    assertThat(sub).contains("gpu", "cgroups");
    assertThat(byClass.get("capacity-scheduler").get("Properties").get("yarn.scheduler.capacity.resource-calculator")
        .asText()).endsWith("DominantResourceCalculator");
    JsonNode spark = byClass.get("spark-defaults").get("Properties");
    assertThat(spark.get("spark.dynamicAllocation.enabled").asText()).isEqualTo("false");
    assertThat(spark.get("spark.plugins").asText()).isEqualTo("com.nvidia.spark.SQLPlugin");
    assertThat(spark.get("spark.executor.resource.gpu.discoveryScript").asText())
        .isEqualTo("/opt/distillery/bin/gpu-discovery.sh");
    for (String env : List.of("PYTORCH_VERSION", "PYTORCH_FLAVOR", "DJL_OFFLINE", "DJL_CACHE_DIR", "RUST_FLAVOR")) {
      assertThat(spark.has("spark.executorEnv." + env)).as(env).isTrue();
      assertThat(spark.has("spark.yarn.appMasterEnv." + env)).as(env).isTrue();
    }
  }

  @Test
  void databricksClusterIsAFixedSizeGpuClusterWithTheDjlEnvironment() throws IOException {
    JsonNode cluster = json("conf/databricks/cluster.json");
    assertThat(cluster.get("spark_version").asText()).contains("gpu-ml");
    assertThat(cluster.get("node_type_id").asText()).isNotBlank();
    assertThat(cluster.get("num_workers").asInt()).isPositive();
    assertThat(cluster.has("autoscale")).as("barrier mode needs a fixed number of workers").isFalse();
    JsonNode conf = cluster.get("spark_conf");
    assertThat(conf.get("spark.task.resource.gpu.amount").asText()).isNotBlank();
    for (String env : List.of("PYTORCH_VERSION", "PYTORCH_FLAVOR", "DJL_OFFLINE", "DJL_CACHE_DIR", "RUST_FLAVOR")) {
      assertThat(conf.has("spark.executorEnv." + env)).as(env).isTrue();
    }
    assertThat(cluster.get("spark_env_vars").get("JNAME").asText()).contains("17");
    assertThat(cluster.get("init_scripts").get(0).get("workspace").get("destination").asText())
        .endsWith("init-distillery.sh");
  }

  @Test
  void databricksJobRunsThePipelineOnTheSameCluster() throws IOException {
    JsonNode job = json("conf/databricks/job.json");
    JsonNode task = job.get("tasks").get(0);
    JsonNode jar = task.get("spark_jar_task");
    assertThat(jar.get("main_class_name").asText()).isEqualTo("dev.distillery.cli.Distillery");
    assertThat(jar.get("parameters").get(0).asText()).isEqualTo("pipeline");
    assertThat(jar.get("parameters").get(1).asText()).isEqualTo("--config");
    assertThat(task.get("libraries").get(0).get("jar").asText()).endsWith("-spark.jar");
    JsonNode jobCluster = job.get("job_clusters").get(0);
    assertThat(jobCluster.get("job_cluster_key").asText()).isEqualTo(task.get("job_cluster_key").asText());
    ObjectNode expected = (ObjectNode) json("conf/databricks/cluster.json");
    expected.remove(List.of("cluster_name", "autotermination_minutes"));
    assertThat(jobCluster.get("new_cluster")).as("job.json's cluster is cluster.json").isEqualTo(expected);
  }

  @Test
  void databricksSpark4FilesDifferOnlyInRuntimeAndJar() throws IOException {
    ObjectNode cluster = (ObjectNode) json("conf/databricks/cluster.json");
    ObjectNode cluster4 = (ObjectNode) json("conf/databricks/cluster-spark4.json");
    assertThat(cluster4.get("spark_version").asText()).as("Spark 4 runtimes are Scala 2.13").endsWith("scala2.13");
    cluster.remove(List.of("cluster_name", "spark_version"));
    cluster4.remove(List.of("cluster_name", "spark_version"));
    assertThat(cluster4).isEqualTo(cluster);
    String job = Files.readString(Scripts.ROOT.resolve("conf/databricks/job.json"));
    String job4 = Files.readString(Scripts.ROOT.resolve("conf/databricks/job-spark4.json"));
    assertThat(job4).contains("-spark4.jar\"", "scala2.13\"")
        .isEqualTo(job.replace("16.4.x-gpu-ml-scala2.12", "17.3.x-gpu-ml-scala2.13")
            .replace("-spark.jar", "-spark4.jar"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"conf/llama-3.1-8b-minitron-4b-width.yaml", "conf/llama-3.1-8b-minitron-4b-depth.yaml"})
  void minitronRecipesAreValidPipelineFiles(String file) throws Exception {
    JsonNode root = YAML.readTree(Scripts.ROOT.resolve(file).toFile());
    for (String key : SHARED_KEYS) {
      assertThat(root.get(key).asText()).as(key).startsWith("s3a://YOUR-BUCKET/");
    }
    // The pipeline's own validation: every section's keys are options of its command, with valid values.
    List<String> stages = pipeline().validate(Files.readString(Scripts.ROOT.resolve(file)), file);
    assertThat(stages).startsWith("tokenize", "teacher-training", "calibrate", "plan", "prune", "distill")
        .contains("evaluate teacher", "evaluate distilled", "report");
  }

  @Test
  void minitronRecipesCarryThePapersSettings() throws IOException {
    JsonNode width = YAML.readTree(Scripts.ROOT.resolve("conf/llama-3.1-8b-minitron-4b-width.yaml").toFile());
    JsonNode depth = YAML.readTree(Scripts.ROOT.resolve("conf/llama-3.1-8b-minitron-4b-depth.yaml").toFile());
    for (JsonNode s : List.of(width, depth)) {
      // the paper's 8192-token rows leave 15% headroom on an 80 GB GPU (distillery memory, README "Memory"); 4096
      assertThat(s.at("/tokenize/seq-length").asInt()).isEqualTo(4096);
      assertThat(s.at("/distill/shard-optimizer").asBoolean()).as("fits only with the sharded optimizer").isTrue();
      assertThat(s.has("teacher-training")).as("teacher correction").isTrue();
      assertThat(s.at("/teacher-training/shard-optimizer").asBoolean()).as("teacher correction runs only sharded")
          .isTrue();
      assertThat(s.at("/calibrate/samples").asInt()).isEqualTo(1024);
      assertThat(s.at("/calibrate/seq-length").asInt()).isEqualTo(4096);
      assertThat(s.at("/distill/loss").asText()).isEqualTo("kl");
      assertThat(s.at("/distill/lr").asDouble()).isEqualTo(1e-4);
      assertThat(s.at("/distill/min-lr").asDouble()).isEqualTo(1e-5);
      assertThat(s.at("/distill/warmup-steps").asInt()).isEqualTo(40);
      int globalBatch = s.at("/distill/global-batch").asInt();
      assertThat(globalBatch % (s.at("/distill/world-size").asInt() * s.at("/distill/micro-batch").asInt())).isZero();
    }
    assertThat(width.at("/plan/target/hidden-size").asInt()).isEqualTo(3072);
    assertThat(width.at("/plan/target/ffn-size").asInt()).isEqualTo(9216);
    assertThat(width.at("/plan/target/heads-per-group").isMissingNode()).as("heads kept").isTrue();
    assertThat(depth.at("/plan/target/drop-layers").asText()).isEqualTo("15-30");
    assertThat(Files.readString(Scripts.ROOT.resolve("conf/llama-3.1-8b-minitron-4b-width.yaml")))
        .contains("1152", "94B");
  }

  private static PipelineCommand pipeline() {
    return (PipelineCommand) Distillery.standard().command("pipeline");
  }


  private static final List<Pattern> SECRETS = List.of(
      Pattern.compile("(AKIA|ASIA)[0-9A-Z]{16}"),
      Pattern.compile("(?i)aws_secret_access_key\\s*[=:]"),
      Pattern.compile("(?i)aws_session_token\\s*[=:]"),
      Pattern.compile("(?i)fs\\.s3a\\.(access|secret|session)\\.key"),
      Pattern.compile("dapi[0-9a-f]{32}"),
      Pattern.compile("-----BEGIN [A-Z ]*PRIVATE KEY-----"),
      Pattern.compile("(?i)\"?token\"?\\s*[:=]\\s*\"[A-Za-z0-9_\\-]{20,}\""));

  @Test
  void theJava17OptionsHaveOneSourceThatTheBuildTheScriptsAndBaseConfUse() throws IOException {
    List<String> options = List.of(Files.readString(Scripts.ROOT.resolve("conf/java17.args")).trim().split("\\s+"));
    assertThat(options).contains("--add-opens=java.base/sun.nio.ch=ALL-UNNAMED");
    assertThat(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
        .as("the test JVM, started by surefire with pom.xml's argLine").containsAll(options);
    for (String line : Files.readAllLines(Scripts.ROOT.resolve("conf/spark/base.conf"))) {
      if (line.startsWith("spark.driver.extraJavaOptions") || line.startsWith("spark.executor.extraJavaOptions")) {
        List<String> value = List.of(line.trim().split("\\s+"));
        assertThat(value.subList(1, value.size())).as(line.split("\\s")[0]).isEqualTo(options);
      }
    }
    assertThat(Files.readString(Scripts.ROOT.resolve("conf/spark/base.conf")))
        .contains("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions");
    assertThat(Files.readString(Scripts.ROOT.resolve("submit-scripts/distillery")))
        .contains("\"@$ROOT/conf/java17.args\"").doesNotContain("--add-opens");
    assertThat(Files.readString(Scripts.ROOT.resolve("pom.xml"))).contains("conf/java17.args")
        .doesNotContain("--add-opens");
  }

  @Test
  void noSecretsInConfOrSubmitScripts() throws IOException {
    List<String> hits = new ArrayList<>();
    for (String dir : List.of("conf", "submit-scripts")) {
      try (Stream<Path> files = Files.walk(Scripts.ROOT.resolve(dir))) {
        for (Path f : files.filter(Files::isRegularFile).toList()) {
          String text = Files.readString(f);
          for (Pattern p : SECRETS) {
            if (p.matcher(text).find()) {
              hits.add(Scripts.ROOT.relativize(f) + " matches " + p);
            }
          }
        }
      }
    }
    assertThat(hits).isEmpty();
  }

  @Test
  void secretPatternsCatchTheUsualShapes() {
    for (String sample : List.of("AKIA" + "ABCDEFGHIJKLMNOP", "aws_secret_access_key = x",
        "spark.hadoop.fs.s3a.secret.key abc", "dapi" + "0123456789abcdef0123456789abcdef")) {
      assertThat(SECRETS.stream().anyMatch(p -> p.matcher(sample).find())).as(sample).isTrue();
    }
  }
}
