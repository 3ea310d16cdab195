package claimcheck.interop;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.netflix.eureka.server.EnableEurekaServer;

/** A standalone Spring Cloud Netflix Eureka server; the test passes its settings as arguments. */
@SpringBootApplication
@EnableEurekaServer
public class Main {
  public static void main(String[] args) {
    SpringApplication.run(Main.class, args);
  }
}
