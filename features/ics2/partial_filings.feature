@ics2 @R3
Feature: Partial filings are linked into one ENS, and the completion timer chases the missing parts
  A carrier files the master bill of lading (IE3F12) naming its house bills and who must file them; the
  house filings (IE3F15) link to it by the master transport document number. The ENS is complete, and
  risk-assessed, once every named house is in; if the completion timer expires first, the filer gets
  IE3N02 and the party named but not yet filed gets IE3N11 (domain/ics2.md "ENS lifecycle";
  simulator/ics2/data/linking.json).

  Background:
    Given a fresh simulator scene
    And every sample trader is registered with its sealing and TLS certificates

  @req:ICS2-partial-filings-linked
  Scenario: A master filing and the house filing it names make one complete ENS
    Given the trader "trader-a" has filed an "IE3F12" master naming 1 house to be filed by "trader-b"
    When the trader "trader-b" files the "IE3F15" house filing under that master
    Then each partial filing got an IE3R01 with its own MRN
    And both filings belong to one ENS, which is "registered"

  @req:ICS2-completion-timer
  Scenario: The completion timer expires before the named house filer has filed
    Given the trader "trader-b" has a party profile that receives pull messages
    And the trader "trader-a" has filed an "IE3F12" master naming 1 house to be filed by "trader-b"
    When the simulated clock passes the completion timer
    Then the trader "trader-a" receives an "IE3N02" naming "trader-b" as not yet filed
    And the trader "trader-b" receives an "IE3N11" for the missing house
    And the ENS is now "incomplete"

  @req:ICS2-N01-non-unique-linking-key
  Scenario: A second master filing for the same master transport document is refused by IE3N01
    Given the trader "trader-a" has filed an "IE3F12" master naming 1 house to be filed by "trader-b"
    When the trader "trader-a" files the same master transport document again as a new "IE3F12"
    Then the trader "trader-a" receives an "IE3N01" saying "non-unique linking key"
