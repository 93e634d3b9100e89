@ics2 @R2 @reference-client
Feature: Push delivery to the trader's own AS4 endpoint, with reception awareness
  A trader that chose push gets its messages sent to its access point over mutual TLS; the receipt it
  returns must be signed and cover the Body, else the message counts as not delivered and is retried
  with back-off, then marked undelivered (domain/ics2.md "AS4 profile"; ICD §3.3.2.3).

  Background:
    Given a fresh simulator scene
    And every sample trader is registered with its sealing and TLS certificates

  @timing
  @req:ICS2-push-delivered
  Scenario: A reply pushed to a trader that returns a good receipt is delivered
    Given the trader "trader-a" receives by push at its access point, which returns "good" receipts
    When the trader "trader-a" files a valid "IE3F32"
    And the simulator pushes what is due
    Then the access point of "trader-a" received an "IE3R01"
    And the "IE3R01" for "trader-a" counts as delivered

  @timing
  @req:ICS2-push-bad-receipt
  Scenario: A receiver whose receipts do not sign the Body gets retries, then the message is undelivered
    Given the trader "trader-a" receives by push at its access point, which returns "unsigned-body" receipts
    When the trader "trader-a" files a valid "IE3F32"
    And the simulator pushes what is due, advancing the clock through every retry
    Then the access point of "trader-a" received the "IE3R01" once per attempt
    And the "IE3R01" for "trader-a" is undelivered after the last attempt
