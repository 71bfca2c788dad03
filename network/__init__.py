"""The domain: record kinds, their schemas, vocabularies, identifiers and the error tree.

Imports no Flask, Neo4j or requests.
"""
