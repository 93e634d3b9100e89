@ics2 @R1 @security @reference-client
Feature: AS4 security faults are refused with the precise ebMS error and no functional reply
  ICD §4.3 (WS-Security, X509PKIPathv1 with the full path, trusted CA) and Table 24 (EBMS:0004 A001:
  the sealing certificate is not registered for the EORI).

  Background:
    Given a fresh simulator scene
    And every sample trader is registered with its sealing and TLS certificates

  @req:ICD-4.3-trusted-certificate
  Scenario Outline: A filing sealed with a <condition> certificate is refused
    When the trader "<condition>" files a valid "IE3F32"
    Then the answer is the ebMS error "<code>" mentioning "<mention>"
    And no functional reply is waiting for the trader "<condition>"
    And the simulator journal shows the message as rejected with "<code>"

    Examples:
      | condition       | code      | mention          |
      | expired         | EBMS:0101 | expired          |
      | not-yet-valid   | EBMS:0101 | not-yet-valid    |
      | revoked         | EBMS:0101 | revoked          |
      | untrusted       | EBMS:0101 | untrusted        |
      | wrong-key-usage | EBMS:0101 | wrong-key-usage  |
      | unregistered    | EBMS:0004 | A001             |

  @req:ICD-4.3-pkipath
  Scenario: A BinarySecurityToken with only the leaf certificate is refused
    When the trader "trader-a" files a valid "IE3F32" with a leaf-only token
    Then the answer is the ebMS error "EBMS:0103" mentioning "leaf-only"
    And no functional reply is waiting for the trader "trader-a"

  @req:ICD-4.3-signature-integrity
  Scenario: A payload changed after signing is refused
    When the trader "trader-a" files a valid "IE3F32" whose payload is changed after signing
    Then the answer is the ebMS error "EBMS:0101" mentioning "digest"
    And no functional reply is waiting for the trader "trader-a"

  @req:ICS2-receipt-signs-body
  Scenario: A receipt that does not sign the Body leaves the message undelivered
    Given the trader "trader-a" acknowledges pulled messages with receipts that do not sign the Body
    When the trader "trader-a" files a valid "IE3F32"
    And the trader pulls its MPC
    Then it receives an "IE3R01" that refers to its filing
    But the "IE3R01" does not count as delivered because "does not cover the SOAP Body"
