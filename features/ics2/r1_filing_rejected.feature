@ics2 @R1
Feature: R1 filings with data-quality defects are rejected by IE3N99 listing every error
  IE3N99 lists ALL errors, each with a CL723 code, an XPath pointer and a description
  (domain/ics2.md "Data-quality rules"; ICD IE3N99).

  Background:
    Given a fresh simulator scene
    And the trader "trader-a" is registered with its sealing and TLS certificates

  @req:ICS2-DQ-stop-word-description
  Scenario: An IE3F43 whose goods description is only a stop word is rejected
    When the trader files an "IE3F43" with the defect "stop-word-description"
    Then the simulator answers with a signed receipt that acknowledges every signed part
    When the trader pulls its MPC
    Then it receives an "IE3N99" that refers to its filing
    And the IE3N99 lists error code "100" pointing at the goods description
    And the filing has exactly one functional reply

  @req:ICS2-DQ-hs-code
  Scenario: An IE3F32 with a malformed HS code is rejected
    When the trader files an "IE3F32" with the defect "invalid-hs-code"
    And the trader pulls its MPC
    Then it receives an "IE3N99" that refers to its filing
    And the IE3N99 points at the HS code
    And the filing has exactly one functional reply
