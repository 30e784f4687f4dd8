"""Word lists this project wrote for `coqui_meta_lab.language_corpus`: per espeak-ng language, subjects, verbs,
objects and places that combine into simple sentences ("subject verb object place.").

Every verb is in the present tense, third person singular, so that it agrees with every subject (Polish and Czech past
tenses would change with the subject's gender), and every object is already in the case its verbs take (the German,
Polish and Czech accusative; the Finnish genitive-accusative). About 7 000 sentences a language.
"""

from __future__ import annotations

# language: (subjects, verbs, objects, places), each a comma-separated list (no phrase holds a comma)
WORDS: dict[str, tuple[str, str, str, str]] = {
    "en-us": (
        "the old man, a young girl, my brother, the teacher, our neighbour, the doctor, the farmer, her friend, "
        "the baker, his sister, the captain",
        "buys, sells, paints, opens, repairs, cleans, carries, finds",
        "a red box, the blue door, an old chair, the green boat, a heavy bag, the wooden table, a bright lamp, "
        "the broken clock, a warm coat, the silver key",
        "this morning, near the river, after lunch, in the garden, before the rain, at the station, by the window, "
        "on sunday, at noon",
    ),
    "de": (
        "der alte Mann, ein junges Mädchen, mein Bruder, die Lehrerin, unser Nachbar, der Arzt, der Bauer, "
        "ihre Freundin, der Bäcker, seine Schwester, der Kapitän",
        "kauft, verkauft, malt, öffnet, repariert, putzt, trägt, findet",
        "eine rote Kiste, die blaue Tür, den alten Stuhl, das grüne Boot, eine schwere Tasche, den hölzernen Tisch, "
        "eine helle Lampe, die kaputte Uhr, einen warmen Mantel, den silbernen Schlüssel",
        "heute Morgen, am Fluss, nach dem Mittagessen, im Garten, vor dem Regen, am Bahnhof, am Fenster, "
        "am Sonntag, am Mittag",
    ),
    "fr-fr": (
        "le vieil homme, une jeune fille, mon frère, le professeur, notre voisin, le médecin, le fermier, son amie, "
        "le boulanger, sa sœur, le capitaine",
        "achète, vend, peint, ouvre, répare, nettoie, porte, trouve",
        "une boîte rouge, la porte bleue, une vieille chaise, le bateau vert, un sac lourd, la table en bois, "
        "une lampe claire, l'horloge cassée, un manteau chaud, la clé d'argent",
        "ce matin, près de la rivière, après le déjeuner, dans le jardin, avant la pluie, à la gare, "
        "près de la fenêtre, le dimanche, à midi",
    ),
    "es": (
        "el anciano, una niña, mi hermano, la maestra, nuestro vecino, el médico, el granjero, su amiga, "
        "el panadero, mi hermana, el capitán",
        "compra, vende, pinta, abre, arregla, limpia, lleva, encuentra",
        "una caja roja, la puerta azul, una silla vieja, el barco verde, una bolsa pesada, la mesa de madera, "
        "una lámpara brillante, el reloj roto, un abrigo caliente, la llave de plata",
        "esta mañana, cerca del río, después de comer, en el jardín, antes de la lluvia, en la estación, "
        "junto a la ventana, el domingo, al mediodía",
    ),
    "it": (
        "il vecchio, una ragazza, mio fratello, la maestra, il nostro vicino, il medico, il contadino, "
        "la sua amica, il fornaio, mia sorella, il capitano",
        "compra, vende, dipinge, apre, ripara, pulisce, porta, trova",
        "una scatola rossa, la porta blu, una sedia vecchia, la barca verde, una borsa pesante, il tavolo di legno, "
        "una lampada luminosa, l'orologio rotto, un cappotto caldo, la chiave d'argento",
        "stamattina, vicino al fiume, dopo pranzo, in giardino, prima della pioggia, alla stazione, "
        "vicino alla finestra, di domenica, a mezzogiorno",
    ),
    "nl": (
        "de oude man, een jong meisje, mijn broer, de lerares, onze buurman, de dokter, de boer, haar vriendin, "
        "de bakker, zijn zus, de kapitein",
        "koopt, verkoopt, schildert, opent, repareert, poetst, draagt, vindt",
        "een rode doos, de blauwe deur, een oude stoel, de groene boot, een zware tas, de houten tafel, "
        "een heldere lamp, de kapotte klok, een warme jas, de zilveren sleutel",
        "vanochtend, bij de rivier, na de lunch, in de tuin, voor de regen, op het station, bij het raam, "
        "op zondag, om twaalf uur",
    ),
    "pt": (
        "o velho, uma menina, o meu irmão, a professora, o nosso vizinho, o médico, o agricultor, a sua amiga, "
        "o padeiro, a minha irmã, o capitão",
        "compra, vende, pinta, abre, conserta, limpa, leva, encontra",
        "uma caixa vermelha, a porta azul, uma cadeira velha, o barco verde, um saco pesado, a mesa de madeira, "
        "uma lâmpada brilhante, o relógio partido, um casaco quente, a chave de prata",
        "esta manhã, perto do rio, depois do almoço, no jardim, antes da chuva, na estação, junto à janela, "
        "ao domingo, ao meio-dia",
    ),
    "pl": (
        "starszy pan, młoda dziewczyna, mój brat, nauczycielka, nasz sąsiad, lekarz, rolnik, jej przyjaciółka, "
        "piekarz, jego siostra, kapitan",
        "kupuje, sprzedaje, maluje, otwiera, naprawia, czyści, niesie, znajduje",
        "czerwone pudełko, niebieskie drzwi, stare krzesło, zieloną łódź, ciężką torbę, drewniany stół, "
        "jasną lampę, zepsuty zegar, ciepły płaszcz, srebrny klucz",
        "dziś rano, nad rzeką, po obiedzie, w ogrodzie, przed deszczem, na dworcu, przy oknie, w niedzielę, "
        "w południe",
    ),
    "sv": (
        "den gamle mannen, en ung flicka, min bror, läraren, vår granne, doktorn, bonden, hennes vän, bagaren, "
        "hans syster, kaptenen",
        "köper, säljer, målar, öppnar, lagar, tvättar, bär, hittar",
        "en röd låda, den blå dörren, en gammal stol, den gröna båten, en tung väska, träbordet, en ljus lampa, "
        "den trasiga klockan, en varm rock, silvernyckeln",
        "i morse, vid floden, efter lunch, i trädgården, före regnet, på stationen, vid fönstret, på söndag, "
        "mitt på dagen",
    ),
    "cs": (
        "starý muž, mladá dívka, můj bratr, učitelka, náš soused, lékař, zemědělec, její kamarádka, pekař, "
        "jeho sestra, kapitán",
        "kupuje, prodává, maluje, otevírá, opravuje, čistí, nese, hledá",
        "červenou krabici, modré dveře, staré křeslo, zelenou loď, těžkou tašku, dřevěný stůl, jasnou lampu, "
        "rozbité hodiny, teplý kabát, stříbrný klíč",
        "dnes ráno, u řeky, po obědě, na zahradě, před deštěm, na nádraží, u okna, v neděli, v poledne",
    ),
    "fi": (
        "vanha mies, nuori tyttö, veljeni, opettaja, naapurimme, lääkäri, maanviljelijä, hänen ystävänsä, "
        "leipuri, siskoni, kapteeni",
        "ostaa, myy, maalaa, avaa, korjaa, siivoaa, kantaa, löytää",
        "punaisen laatikon, sinisen oven, vanhan tuolin, vihreän veneen, raskaan laukun, puisen pöydän, "
        "kirkkaan lampun, rikkinäisen kellon, lämpimän takin, hopeisen avaimen",
        "tänä aamuna, joen rannalla, lounaan jälkeen, puutarhassa, ennen sadetta, asemalla, ikkunan vieressä, "
        "sunnuntaina, keskipäivällä",
    ),
    "ro": (
        "bătrânul, o fată tânără, fratele meu, profesoara, vecinul nostru, doctorul, fermierul, prietena ei, "
        "brutarul, sora lui, căpitanul",
        "cumpără, vinde, pictează, deschide, repară, curăță, duce, găsește",
        "o cutie roșie, ușa albastră, un scaun vechi, barca verde, o geantă grea, masa de lemn, "
        "o lampă strălucitoare, ceasul stricat, o haină caldă, cheia de argint",
        "azi dimineață, lângă râu, după prânz, în grădină, înainte de ploaie, la gară, lângă fereastră, "
        "duminică, la amiază",
    ),
}
