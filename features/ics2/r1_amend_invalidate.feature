@ics2 @R1
Feature: Amendments and invalidation move a registered ENS through its lifecycle
  IE3Axx amends an ENS (answered by IE3N10) and IE3Q04 invalidates it (IE3R07) while the lifecycle
  allows it; once the goods are presented both are refused by IE3N01 (domain/ics2.md "Messages",
  "ENS lifecycle"; simulator/ics2/data/lifecycle.json).

  Background:
    Given a fresh simulator scene
    And the trader "trader-a" is registered with its sealing and TLS certificates
    And the trader has a registered "IE3F32" whose IE3R01 it has pulled

  @req:ICS2-amendment-accepted
  Scenario: An amendment of a registered ENS is accepted
    When the trader amends its ENS
    Then the simulator answers with a signed receipt that acknowledges every signed part
    When the trader pulls its MPC
    Then it receives an "IE3N10" that refers to its filing
    And the filing has exactly one functional reply
    And the ENS is still "registered"

  @req:ICS2-N01-amend-after-presentation
  Scenario: An amendment after the goods were presented is refused by IE3N01
    Given customs has recorded the goods of the ENS as arrived and presented
    When the trader amends its ENS
    And the trader pulls its MPC
    Then it receives an "IE3N01" that refers to its filing
    And the IE3N01 gives code "92" for the MRN
    And the ENS is still "presented"

  @req:ICS2-invalidation
  Scenario: An invalidation request invalidates the ENS
    When the trader asks for the invalidation of its ENS
    And the trader pulls its MPC
    Then it receives an "IE3R07" that refers to its filing
    And the filing has exactly one functional reply
    And the ENS is now "invalidated"

  @req:ICS2-N01-invalidation-after-presentation
  Scenario: An invalidation request after presentation is refused by IE3N01
    Given customs has recorded the goods of the ENS as arrived and presented
    When the trader asks for the invalidation of its ENS
    And the trader pulls its MPC
    Then it receives an "IE3N01" that refers to its filing
    And the IE3N01 gives code "92" for the MRN
    And the ENS is still "presented"
