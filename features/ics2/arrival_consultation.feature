@ics2 @R2
Feature: Arrival notification and consultation of the ENS
  The carrier notifies arrival (IE3N06): an ENS in a state that allows it is registered as arrived
  (IE3R04), one in an incorrect state is named in IE3N07. A consultation (IE3Q05) returns only the
  sender's own filings, house data for a house query and master data for a master query (IE3R08;
  domain/ics2.md "Messages").

  Background:
    Given a fresh simulator scene
    And every sample trader is registered with its sealing and TLS certificates

  @req:ICS2-arrival-registered
  Scenario: Arrival of a registered ENS is registered by IE3R04
    Given the trader "trader-a" has a registered "IE3F20" whose IE3R01 it has pulled
    When the trader "trader-a" notifies the arrival of that ENS
    Then the trader "trader-a" receives an "IE3R04" for the MRN
    And the ENS is now "arrived"

  @req:ICS2-arrival-incorrect-state
  Scenario: Arrival of an invalidated ENS is answered by IE3N07
    Given the trader "trader-a" has a registered "IE3F20" whose IE3R01 it has pulled
    And the trader "trader-a" has had that ENS invalidated
    When the trader "trader-a" notifies the arrival of that ENS
    Then the trader "trader-a" receives an "IE3N07" naming the MRN
    And the ENS is still "invalidated"

  @req:ICS2-consultation-scoping
  Scenario: Consultation returns only the sender's own data, scoped to the level asked for
    Given the trader "trader-a" has filed an "IE3F12" master naming 1 house to be filed by "trader-b"
    And the trader "trader-b" has filed the "IE3F15" house filing under that master
    When the trader "trader-a" consults the ENS by its master transport document
    Then the "IE3R08" lists only the "IE3F12" filing
    When the trader "trader-b" consults the ENS by its house transport document
    Then the "IE3R08" lists only the "IE3F15" filing
    When the trader "trader-b" consults the ENS by its master transport document
    Then the "IE3R08" lists no filing
