package dev.distillery.collective;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

class LocalReducerTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(5);

  /** Runs one thread per device calling {@code reducer} with {@code buffer(device)}; returns the buffers. */
  private static List<float[]> runDevices(LocalReducer reducer, int devices, IntFunction<float[]> buffer) {
    List<CompletableFuture<float[]>> futures = new ArrayList<>();
    for (int d = 0; d < devices; d++) {
      int device = d;
      futures.add(CompletableFuture.supplyAsync(() -> {
        DirectFloats data = DirectFloats.of(buffer.apply(device));
        reducer.allReduceSum(device, data);
        return data.toArray();
      }, runnable -> new Thread(runnable).start()));
    }
    return futures.stream().map(CompletableFuture::join).toList();
  }

  @Test
  void sumsDevicesInOrderAndGivesEveryDeviceTheResult() {
    float[][] inputs = {{1e8f, 1, 2, 3, 4}, {1, 1, 1, 1, 1}, {-1e8f, 0.5f, 0, 0, 7}};
    LocalReducer reducer = new LocalReducer(3, data -> {}, values -> {}, TIMEOUT);
    for (int round = 0; round < 3; round++) {
      List<float[]> results = runDevices(reducer, 3, d -> inputs[d].clone());
      float[] expected = {(1e8f + 1) - 1e8f, 2.5f, 3, 4, 12};
      assertThat(results).allSatisfy(r -> assertThat(r).containsExactly(expected));
    }
  }

  @Test
  void reducesInsideEachProcessBeforeTheRing() {
    List<List<float[]>> perProcess = Ranks.run(2, ring -> {
      LocalReducer reducer = new LocalReducer(2, ring::allReduceSum, values -> {}, TIMEOUT);
      return runDevices(reducer, 2, d -> new float[] {ring.rank() * 10 + d, 1});
    });
    assertThat(perProcess).allSatisfy(devices -> assertThat(devices)
        .allSatisfy(r -> assertThat(r).containsExactly(0 + 1 + 10 + 11, 4)));
  }

  /**
   * 2 processes x 2 devices: each of the four replicas owns a quarter (the shards tile the buffer), holds its sum
   * after the reduce-scatter, and the all-gather gives everyone every replica's quarter.
   */
  @Test
  void reduceScatterAndAllGatherAcrossDevicesAndProcesses() {
    int length = 11;
    List<List<Object[]>> perProcess = Ranks.run(2, ring -> {
      LocalReducer reducer = new LocalReducer(2, ring::allReduceSum, values -> {}, ring, TIMEOUT);
      List<CompletableFuture<Object[]>> devices = new ArrayList<>();
      for (int d = 0; d < 2; d++) {
        int device = d;
        devices.add(CompletableFuture.supplyAsync(() -> {
          float[] values = new float[length];
          for (int i = 0; i < length; i++) {
            values[i] = i + 100 * (ring.rank() * 2 + device);
          }
          DirectFloats data = DirectFloats.of(values);
          reducer.reduceScatterSum(device, data);
          Shard shard = reducer.shard(device, length);
          float[] summed = java.util.Arrays.copyOfRange(data.toArray(), shard.from(), shard.to());
          for (int i = shard.from(); i < shard.to(); i++) {
            data.put(i, -(ring.rank() * 2 + device));
          }
          reducer.allGather(device, data);
          return new Object[] {shard, summed, data.toArray()};
        }, runnable -> new Thread(runnable).start()));
      }
      return devices.stream().map(CompletableFuture::join).toList();
    });
    float[] gathered = new float[length];
    int covered = 0;
    for (int r = 0; r < 2; r++) {
      for (int d = 0; d < 2; d++) {
        Object[] result = perProcess.get(r).get(d);
        Shard shard = (Shard) result[0];
        covered += shard.length();
        float[] expected = new float[shard.length()];
        for (int i = 0; i < expected.length; i++) {
          expected[i] = 4 * (shard.from() + i) + 100 * (0 + 1 + 2 + 3);
          gathered[shard.from() + i] = -(r * 2 + d);
        }
        assertThat((float[]) result[1]).as("rank %d device %d", r, d).containsExactly(expected);
      }
    }
    assertThat(covered).isEqualTo(length);
    assertThat(perProcess).allSatisfy(devices -> assertThat(devices)
        .allSatisfy(r -> assertThat((float[]) r[2]).containsExactly(gathered)));
  }

  @Test
  void scalarsAreSummedOverDevicesThenProcesses() {
    List<List<double[]>> perProcess = Ranks.run(2, ring -> {
      LocalReducer reducer = new LocalReducer(2, ring::allReduceSum, values -> {
        for (int i = 0; i < values.length; i++) {
          values[i] = ring.allReduceSum(values[i]);
        }
      }, TIMEOUT);
      List<CompletableFuture<double[]>> devices = new ArrayList<>();
      for (int d = 0; d < 2; d++) {
        double[] values = {ring.rank() * 10 + d, 0.25};
        int device = d;
        devices.add(CompletableFuture.supplyAsync(() -> {
          reducer.allReduceSum(device, values);
          return values;
        }, runnable -> new Thread(runnable).start()));
      }
      return devices.stream().map(CompletableFuture::join).toList();
    });
    assertThat(perProcess).allSatisfy(devices -> assertThat(devices)
        .allSatisfy(r -> assertThat(r).containsExactly(0 + 1 + 10 + 11, 1.0)));
  }

  @Test
  void lengthMismatchFailsEveryDevice() {
    LocalReducer reducer = new LocalReducer(2, data -> {}, values -> {}, TIMEOUT);
    List<CompletableFuture<Void>> futures = new ArrayList<>();
    for (int d = 0; d < 2; d++) {
      int device = d;
      futures.add(CompletableFuture.runAsync(() -> reducer.allReduceSum(device, DirectFloats.allocate(device + 1)),
          runnable -> new Thread(runnable).start()));
    }
    for (CompletableFuture<Void> f : futures) {
      assertThat(f).failsWithin(Duration.ofSeconds(10)).withThrowableOfType(Exception.class)
          .havingRootCause().isInstanceOf(CollectiveException.class)
          .withMessageContaining("buffer lengths differ across devices: device 0=1, device 1=2");
    }
  }

  @Test
  void globalFailureReachesEveryDevice() {
    Consumer<DirectFloats> failing = data -> {
      throw new CollectiveException("rank 1: left rank 0 closed the connection");
    };
    LocalReducer reducer = new LocalReducer(3, failing, values -> {}, TIMEOUT);
    List<Throwable> errors = new ArrayList<>();
    try {
      runDevices(reducer, 3, d -> new float[4]);
    } catch (CompletionException e) {
      errors.add(e.getCause());
    }
    assertThat(errors).singleElement().asInstanceOf(org.assertj.core.api.InstanceOfAssertFactories.THROWABLE)
        .hasMessageContaining("closed the connection");
  }
}
