"""translations"""
