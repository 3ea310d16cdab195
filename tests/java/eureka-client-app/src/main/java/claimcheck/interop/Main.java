package claimcheck.interop;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.CommandLineRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.client.ServiceInstance;
import org.springframework.cloud.client.discovery.DiscoveryClient;
import org.springframework.context.annotation.Bean;
import org.springframework.web.client.RestClient;

/**
 * A Spring Cloud service that registers in the Eureka server named by
 * eureka.client.service-url.defaultZone, then looks up the application named by the property
 * claimcheck.discover and calls its /health through the URL discovery gave. It prints one line
 * "DISCOVERED <uri> <health body>" once that worked, or "NOT-DISCOVERED" after
 * claimcheck.discover-timeout, and keeps running (renewing its lease) until stopped.
 */
@SpringBootApplication
public class Main {
  public static void main(String[] args) {
    SpringApplication.run(Main.class, args);
  }

  @Bean
  CommandLineRunner discover(
      DiscoveryClient discovery,
      @Value("${claimcheck.discover}") String app,
      @Value("${claimcheck.discover-timeout:60s}") Duration timeout) {
    return args -> {
      RestClient http = RestClient.create();
      Instant deadline = Instant.now().plus(timeout);
      while (Instant.now().isBefore(deadline)) {
        List<ServiceInstance> found = discovery.getInstances(app);
        if (!found.isEmpty()) {
          ServiceInstance instance = found.get(0);
          String health = http.get().uri(instance.getUri() + "/health").retrieve().body(String.class);
          System.out.println("DISCOVERED " + instance.getUri() + " " + health);
          return;
        }
        Thread.sleep(200);
      }
      System.out.println("NOT-DISCOVERED " + app);
    };
  }
}
