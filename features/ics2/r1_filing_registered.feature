@ics2 @R1
Feature: R1 filings are registered and answered by IE3R01 through pull
  A trader files PLACI data over AS4 and gets exactly one functional reply on its own MPC
  (ICD §4.1.3.3; domain/ics2.md "Messages" and "ENS lifecycle").

  Background:
    Given a fresh simulator scene
    And the trader "trader-a" is registered with its sealing and TLS certificates

  @req:ICD-4.3-receipt @req:ICS2-one-functional-reply
  Scenario Outline: A valid <message> is registered and its IE3R01 is pulled and acknowledged
    When the trader files a valid "<message>"
    Then the simulator answers with a signed receipt that acknowledges every signed part
    And the filing is registered with an 18-character MRN
    When the trader pulls its MPC
    Then it receives an "IE3R01" that refers to its filing and carries the MRN
    And the "IE3R01" counts as delivered
    And the filing has exactly one functional reply

    Examples:
      | message |
      | IE3F32  |
      | IE3F43  |
      | IE3F44  |

  @req:ICD-4.1.3.3-empty-mpc
  Scenario: Pulling an empty MPC gives the EmptyMessagePartitionChannel warning
    When the trader pulls its MPC
    Then the answer is the ebMS warning "EBMS:0006"

  @reference-client
  @req:ebMS3-duplicate-elimination
  Scenario: A message sent twice with the same MessageId is registered once
    When the trader files a valid "IE3F32"
    And the trader sends the same message again with the same MessageId
    Then both answers are the same signed receipt
    And the simulator holds exactly one filing for that MessageId
