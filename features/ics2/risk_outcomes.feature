@ics2 @R1 @R2
Feature: Risk outcomes that the trader must react to
  Outcomes are forced for one LRN through the control API and arrive after the delay set in the scene:
  an information request (IE3Q02) answered by IE3R02 or by amendment as it says, an HRCM screening
  request on an air filing (IE3Q03, answered by IE3R03), a Do Not Load (IE3Q01) followed by an
  amendment. Unanswered, a request stays open (domain/ics2.md "Messages", "ENS lifecycle";
  simulator/ics2/data/risk.json).

  Background:
    Given a fresh simulator scene
    And every sample trader is registered with its sealing and TLS certificates

  @req:ICS2-rfi-answered-by-r02
  Scenario: An information request answered by IE3R02 moves the ENS on
    Given customs will ask for information about the next filing, to be answered by "IE3R02"
    And the trader "trader-a" has a registered "IE3F32" whose IE3R01 it has pulled
    When the simulated clock advances 60 seconds
    Then the trader "trader-a" receives an "IE3Q02" for the MRN
    And the ENS is now "information_requested"
    When the trader "trader-a" answers the information request the way it asks
    Then the ENS is now "registered"
    And the information request is recorded as answered by "IE3R02"

  @req:ICS2-rfi-answered-by-amendment
  Scenario: An information request that asks for an amendment is answered by one
    Given customs will ask for information about the next filing, to be answered by "amendment"
    And the trader "trader-a" has a registered "IE3F32" whose IE3R01 it has pulled
    When the simulated clock advances 60 seconds
    Then the trader "trader-a" receives an "IE3Q02" for the MRN
    When the trader "trader-a" answers the information request the way it asks
    Then the trader "trader-a" receives an "IE3N10" for the MRN
    And the ENS is now "registered"
    And the information request is recorded as answered by "IE3A32"

  @reference-client
  @req:ICS2-rfi-answered-by-amendment
  Scenario: An IE3R02 answer to a request that asks for an amendment is refused, then the amendment is accepted
    Given customs will ask for information about the next filing, to be answered by "amendment"
    And the trader "trader-a" has a registered "IE3F32" whose IE3R01 it has pulled
    When the simulated clock advances 60 seconds
    Then the trader "trader-a" receives an "IE3Q02" for the MRN
    When the trader "trader-a" answers the information request with an IE3R02
    Then the trader "trader-a" receives an "IE3N01" saying "by an amendment"
    When the trader amends its ENS
    Then the trader "trader-a" receives an "IE3N10" for the MRN
    And the ENS is now "registered"
    And the information request is recorded as answered by "IE3A32"

  @req:ICS2-rfi-unanswered
  Scenario: An unanswered information request stays open and shows in the ENS history
    Given customs will ask for information about the next filing, to be answered by "IE3R02"
    And the trader "trader-a" has a registered "IE3F32" whose IE3R01 it has pulled
    When the simulated clock advances 86400 seconds
    Then the ENS is still "information_requested"
    And the information request is recorded as unanswered

  @req:ICS2-hrcm-air
  Scenario: An HRCM screening request on an air filing is answered by IE3R03
    Given the trader "trader-b" is the carrier and wants copies of screening requests
    And customs will ask for HRCM screening of the next filing
    And the trader "trader-a" has a registered "IE3F20" whose IE3R01 it has pulled
    When the simulated clock advances 60 seconds
    Then the trader "trader-a" receives an "IE3Q03" for the MRN
    And the trader "trader-b" receives an "IE3N05" for the MRN
    When the trader "trader-a" answers the screening request with an IE3R03
    Then the ENS is now "registered"

  @req:ICS2-dnl-then-amendment
  Scenario: After a Do Not Load the filer amends the ENS
    Given customs will order Do Not Load for the next filing
    And the trader "trader-a" has a registered "IE3F32" whose IE3R01 it has pulled
    When the simulated clock advances 60 seconds
    Then the trader "trader-a" receives an "IE3Q01" for the MRN
    And the ENS is now "do_not_load"
    When the trader amends its ENS
    Then the trader "trader-a" receives an "IE3N10" for the MRN
    And the ENS is now "registered"

  @req:ICS2-dnl-hold
  Scenario: Under a Do Not Load the package holds the consignment and does not notify its arrival
    Given customs will order Do Not Load for the next filing
    And the trader "trader-a" has a registered "IE3F32" whose IE3R01 it has pulled
    When the simulated clock advances 60 seconds
    Then the trader "trader-a" receives an "IE3Q01" for the MRN
    When the trader "trader-a" is asked to notify the arrival of that ENS
    Then the package declines, and customs received no "IE3N06" from "trader-a"
    And the ENS is still "do_not_load"

  @req:ICS2-N01-out-of-sequence
  Scenario: An answer to an information request that was never sent is out of sequence
    Given the trader "trader-a" has a registered "IE3F32" whose IE3R01 it has pulled
    When the trader "trader-a" answers the information request with an IE3R02
    Then the trader "trader-a" receives an "IE3N01" with code "92"
