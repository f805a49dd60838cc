# A loop over a string's characters, comparing each with short string constants.
# Written after the suite, to look for slow paths it misses.
s = "the quick brown fox jumps over the lazy dog " * 2000
vowels = 0
spaces = 0
for round in range(5):
    for c in s:
        if c == "a" or c == "e" or c == "i" or c == "o" or c == "u":
            vowels += 1
        elif c == " ":
            spaces += 1
print(vowels, spaces)
