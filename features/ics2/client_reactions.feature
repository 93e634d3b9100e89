@ics2 @R1
Feature: The trader's software sends each filing once and does not repeat a rejected one
  An LRN identifies one filing and a filing gets exactly ONE functional reply (IE3R01, IE3N01 or IE3N99).
  A retry is the same message with the same MessageId (ebMS3 duplicate elimination); a filing sent again
  under a new MessageId, or with the LRN of an earlier one, is a second filing that IE3N01 refuses, and a
  filing rejected by IE3N99 must be corrected before it is filed again (domain/ics2.md "Messages",
  "Data-quality rules", "AS4 profile").

  Background:
    Given a fresh simulator scene
    And the trader "trader-a" is registered with its sealing and TLS certificates

  @req:ICS2-one-functional-reply
  Scenario: Two filings are each sent once, under their own LRN, and each gets one IE3R01
    When the trader files 2 valid "IE3F32" filings one after the other
    And the trader pulls its MPC until it is empty
    Then each filing got exactly one functional reply, an "IE3R01" with its own MRN
    And every LRN the trader sent reached customs once and got exactly one functional reply

  @req:ICS2-one-functional-reply @req:ICS2-DQ-stop-word-description
  Scenario: A filing rejected by IE3N99 is not sent again unchanged
    When the trader files an "IE3F43" with the defect "stop-word-description"
    And the trader pulls its MPC until it is empty
    Then each filing got exactly one functional reply, an "IE3N99"
    And every LRN the trader sent reached customs once and got exactly one functional reply
