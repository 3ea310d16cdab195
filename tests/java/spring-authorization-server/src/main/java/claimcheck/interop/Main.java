package claimcheck.interop;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * Spring Authorization Server as Spring Boot configures it from properties alone: the issuer and
 * the registered clients come from the command line (spring.security.oauth2.authorizationserver.*),
 * the RSA signing key is generated at start.
 */
@SpringBootApplication
public class Main {
  public static void main(String[] args) {
    SpringApplication.run(Main.class, args);
  }
}
