@ics2 @R1
Feature: Injected faults that a trader's software must survive
  The scene can make the simulator misbehave on purpose, deterministically: a maintenance window, a
  reply held back, the same message delivered twice (simulator/core/faults.py; domain/ics2.md "AS4
  profile": duplicate detection on MessageId, reception awareness with retries; "Releases": up to 1 h of
  maintenance a week).

  Background:
    Given a fresh simulator scene
    And the trader "trader-a" is registered with its sealing and TLS certificates

  @reference-client
  @req:ICS2-fault-msh-unavailable
  Scenario: During a maintenance window the MSH answers HTTP 503 and stores nothing
    Given the MSH is unavailable for the next 600 seconds
    When the trader files a valid "IE3F32"
    Then the answer is HTTP 503 and nothing was stored
    When the simulated clock advances 601 seconds
    And the trader sends the same message again with the same MessageId
    Then the retry is answered with a signed receipt for the original message
    And the filing has exactly one functional reply

  @req:ICS2-fault-delayed-reply
  Scenario: A delayed reply is not there to pull until its delay has passed
    Given the simulator will hold back the next reply to "trader-a" for 300 seconds
    When the trader files a valid "IE3F32"
    And the trader pulls its MPC
    Then the answer is the ebMS warning "EBMS:0006"
    When the simulated clock advances 301 seconds
    And the trader pulls its MPC
    Then it receives an "IE3R01" that refers to its filing

  @reference-client
  @req:ICS2-fault-duplicate-delivery
  Scenario: A reply delivered twice carries the same MessageId both times
    Given the simulator will deliver the next reply to "trader-a" twice
    When the trader files a valid "IE3F32"
    And the trader pulls its MPC
    Then it receives an "IE3R01" that refers to its filing
    And pulling again gives the same "IE3R01" with the same MessageId

  @req:ICS2-duplicate-delivery-processed-once
  Scenario: A reply delivered twice is processed once by the trader's software
    Given the simulator will deliver the next reply to "trader-a" twice
    When the trader files a valid "IE3F32"
    And the trader pulls its MPC until it is empty
    Then the simulator delivered the "IE3R01" twice with the same MessageId
    And the trader's software processed the "IE3R01" once

  @req:ICS2-fault-dropped-receipt
  Scenario: A lost receipt: the trader's software retries with the same MessageId and the filing is processed once
    Given the simulator will drop the receipt of the next message from "trader-a"
    When the trader "trader-a" files a valid "IE3F32"
    Then customs received the filing again under the same MessageId and answered it with the original receipt
    And the simulator holds exactly one filing for that MessageId
    And the filing has exactly one functional reply
