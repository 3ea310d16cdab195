package claimcheck.interop;

import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A Spring Security resource server that accepts claimcheck-auth's tokens the way any Spring
 * service would: keys from the jwk-set-uri, issuer and audience from the standard properties
 * (spring.security.oauth2.resourceserver.jwt.*), authorities from the scope claim.
 *
 * <p>GET /whoami needs any valid token and answers its subject and scope; GET /send needs the
 * files.send authority.
 */
@SpringBootApplication
@RestController
public class Main {
  public static void main(String[] args) {
    SpringApplication.run(Main.class, args);
  }

  @Bean
  SecurityFilterChain security(HttpSecurity http) throws Exception {
    http.authorizeHttpRequests(
            requests ->
                requests
                    .requestMatchers("/send")
                    .hasAuthority("SCOPE_files.send")
                    .anyRequest()
                    .authenticated())
        .oauth2ResourceServer(server -> server.jwt(Customizer.withDefaults()));
    return http.build();
  }

  @GetMapping("/whoami")
  Map<String, Object> whoami(@AuthenticationPrincipal Jwt jwt) {
    return Map.of("sub", jwt.getSubject(), "scope", jwt.getClaimAsString("scope"));
  }

  @GetMapping("/send")
  Map<String, Object> send(@AuthenticationPrincipal Jwt jwt) {
    return Map.of("allowed", true, "sub", jwt.getSubject());
  }
}
